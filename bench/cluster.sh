#!/usr/bin/env bash
# Benchmarks of several nodes (docs/scaling.md): three release builds of
# Whassap serving one domain, on one PostgreSQL database and the NATS bus,
# each on its own c2s port, all on this machine. In order:
#
#   1. floor      one thread writes the same notification bytes to N sockets
#                 (no server): the kernel's share of any fan-out
#   2. fan-out    one publish to SUBSCRIBERS PubSub subscribers, first with
#                 one node running, then spread evenly over three
#   3. idle       IDLE sessions held over the three nodes (three generator
#                 processes, as one may open only 20,000 files), in plain
#                 text and over STARTTLS, each on freshly started nodes:
#                 the nodes' memory per session, proxies of the other nodes'
#                 sessions included
#   4. storm      STORM clients of one node log in again on the two others
#                 once it is killed (SIGKILL), all at once
#
#   cargo build --release -p whassap -p whassap-bench && bench/cluster.sh
#
# Environment: PARTS (the parts to run, of "floor fanout idle storm"; all
# by default), SUBSCRIBERS (15000), ITEMS (10), FLOOR (9000: the floor
# holds both ends of its sockets in one process), IDLE (57000), STORM
# (10000), PG_ADMIN (postgres://postgres@127.0.0.1:5432/postgres; a
# database whassap_bench_cluster is created and dropped there), NATS
# (nats://127.0.0.1:4222), OUT (bench/results-cluster: one JSON per run;
# `whassap-bench report --dir OUT` prints them as tables).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/whassap
BENCH=target/release/whassap-bench
SUBSCRIBERS=${SUBSCRIBERS:-15000}
ITEMS=${ITEMS:-10}
FLOOR=${FLOOR:-9000}
IDLE=${IDLE:-57000}
STORM=${STORM:-10000}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
NATS=${NATS:-nats://127.0.0.1:4222}
OUT=${OUT:-bench/results-cluster}
PARTS=${PARTS:-floor fanout idle storm}
for p in $PARTS; do
    case $p in floor | fanout | idle | storm) ;; *) echo "PARTS: no part $p (floor fanout idle storm)" >&2; exit 2 ;; esac
done
part() { [[ " $PARTS " == *" $1 "* ]]; }
PG_DB=whassap_bench_cluster
PG_URL="${PG_ADMIN%/*}/$PG_DB"
for b in "$BIN" "$BENCH"; do
    [ -x "$b" ] || { echo "build first: cargo build --release -p whassap -p whassap-bench" >&2; exit 2; }
done
work=$(mktemp -d /tmp/whassap-cluster.XXXXXX)
mkdir -p "$OUT"
declare -A PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
log() { echo "== $(date +%T) $*" >&2; }
addr() { echo "127.0.0.1:1622$1"; }
http() { echo "127.0.0.1:1300$1"; }

accounts=$(( IDLE > SUBSCRIBERS + 1 ? IDLE : SUBSCRIBERS + 1 ))
log "database $PG_DB with $accounts accounts (bench0 made by whassap user add, copied in SQL)"
psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB"
echo password | "$BIN" user add --database "$PG_URL" --data-dir "$work/admin" bench0 >/dev/null
psql "$PG_URL" -q -c "INSERT INTO users (username, roster_version)
    SELECT 'bench' || i, 0 FROM generate_series(1, $((accounts - 1))) AS i" \
    -c "INSERT INTO credentials (username, hash, salt, iterations, stored_key, server_key)
    SELECT 'bench' || i, hash, salt, iterations, stored_key, server_key
    FROM credentials, generate_series(1, $((accounts - 1))) AS i WHERE username = 'bench0'"

start() { # node number
    local n=$1
    "$BIN" serve --allow-plaintext --database "$PG_URL" --cluster "$NATS" --node-name "n$n" \
        --data-dir "$work/n$n" --c2s-listen "$(addr "$n")" --c2s-tls-listen '' \
        --http-listen "$(http "$n")" --s2s-listen '' --max-connections 0 \
        --max-connections-per-ip 0 --log warn >>"$work/n$n.log" 2>&1 &
    PIDS[$n]=$!
    for _ in $(seq 300); do curl -sf "http://$(http "$n")/healthz" >/dev/null && return 0; sleep 0.1; done
    echo "node n$n did not start; its log:" >&2; tail "$work/n$n.log" >&2; exit 1
}
stop() { # node numbers
    for n in "$@"; do kill "${PIDS[$n]}" 2>/dev/null || true; wait "${PIDS[$n]}" 2>/dev/null || true; unset "PIDS[$n]"; done
}
pids() { local IFS=,; echo "$*"; }

if part floor; then
    log "floor: $FLOOR sockets, $ITEMS rounds"
    "$BENCH" floor --sessions "$FLOOR" --items "$ITEMS" --json "$OUT/floor.json"
fi

if part fanout; then
    log "fan-out to $SUBSCRIBERS subscribers, one node"
    start 1
    "$BENCH" pubsub-fanout --addr "$(addr 1)" --pid "${PIDS[1]}" --subscribers "$SUBSCRIBERS" \
        --items "$ITEMS" --source 127.0.0.2,127.0.0.3 --label whassap-1-node \
        --record-as pubsub-fanout-cluster --json "$OUT/fanout-1-node.json" --timeout-secs 120
    log "fan-out to $SUBSCRIBERS subscribers over three nodes"
    start 2
    start 3
    sleep 5
    "$BENCH" pubsub-fanout --addr "$(addr 1),$(addr 2),$(addr 3)" \
        --pid "$(pids "${PIDS[1]}" "${PIDS[2]}" "${PIDS[3]}")" --subscribers "$SUBSCRIBERS" \
        --items "$ITEMS" --source 127.0.0.2,127.0.0.3 --label whassap-3-nodes \
        --record-as pubsub-fanout-cluster --json "$OUT/fanout-3-nodes.json" --timeout-secs 120
    stop 1 2 3
fi

idle() { # tls-mode label
    log "idle: $IDLE sessions over three nodes, --tls $1"
    start 1; start 2; start 3
    sleep 5
    local per=$((IDLE / 3)) all barrier="$work/barrier-$2" jobs=()
    all=$(pids "${PIDS[1]}" "${PIDS[2]}" "${PIDS[3]}")
    for n in 1 2 3; do
        local json=()
        [ "$n" = 1 ] && json=(--json "$OUT/$2.json")
        "$BENCH" idle --addr "$(addr "$n")" --pid "$all" --from $(((n - 1) * per)) --users "$per" \
            --tls "$1" --source "127.0.0.$((n + 1))" --barrier "$barrier" --parties 3 \
            --hold-secs 10 --label "whassap-3-nodes" --record-as "$2" --timeout-secs 120 \
            "${json[@]}" >"$work/$2-$n.out" 2>&1 &
        jobs+=($!)
    done
    for j in "${jobs[@]}"; do wait "$j" || { cat "$work/$2"-*.out >&2; exit 1; }; done
    cat "$work/$2-1.out"
    stop 1 2 3
}
if part idle; then
    idle none idle-cluster
    idle starttls idle-tls-cluster
fi

if part storm; then
    log "storm: $STORM clients of node n3 log in on n1 and n2 once n3 is killed"
    start 1; start 2; start 3
    sleep 5
    "$BENCH" idle --addr "$(addr 3)" --users "$STORM" --hold-secs 600 --source 127.0.0.4 \
        --label n3 >"$work/storm-victims.out" 2>&1 &
    victims=$!
    for _ in $(seq 600); do
        grep -q "holding" "$work/storm-victims.out" && break
        sleep 0.5
    done
    kill -9 "${PIDS[3]}"; unset "PIDS[3]"
    "$BENCH" login --addr "$(addr 1),$(addr 2)" --pid "$(pids "${PIDS[1]}" "${PIDS[2]}")" \
        --users "$STORM" --concurrency "$STORM" --source 127.0.0.2,127.0.0.3 \
        --label whassap-2-nodes --record-as login-storm --json "$OUT/storm.json" --timeout-secs 120
    kill "$victims" 2>/dev/null || true
    stop 1 2
fi
log "done: $OUT"
"$BENCH" report --dir "$OUT"
