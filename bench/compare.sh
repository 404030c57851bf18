#!/usr/bin/env bash
# Side-by-side benchmark: the same load scenarios against Whassap, Prosody
# and ejabberd, one server at a time, everything on 127.0.0.1.
#
#   bench/compare.sh [--quick] [--no-build]
#
#   --quick      every size (users, rates, items, durations) divided by 10
#   --no-build   use target/release/{whassap,whassap-bench} as they are
#                (under $CARGO_TARGET_DIR if set)
#
# Environment (all optional):
#   BENCH_SERVERS       servers to run, in order   [whassap prosody ejabberd]
#   BENCH_OUT           JSON outcomes directory    [bench/results]
#   BENCH_REPORT        Markdown report to write   [docs/benchmarks.md]
#   BENCH_WHASSAP_ADDR  Whassap's c2s address      [127.0.0.1:15222]
#   BENCH_KEEP=1        keep the run directory (data, logs) even on success
#   BENCH_SCENARIOS     the side-by-side scenarios to run, e.g. "login"
#                       [idle login chat pubsub-fanout pep-fanout idle-tls]
#   BENCH_SCALE=0       skip Whassap's 19,000-session and 15,000-subscriber runs
#   BENCH_PUSH=0        skip Whassap's push-versus-poll and REST throughput runs
#   BENCH_ONLY=push     run only those two, keep the other outcomes in BENCH_OUT,
#                       and rewrite the report from all of them
#   BENCH_WHASSAP_HTTP  Whassap's HTTP address for them [127.0.0.1:13000]
#
# Must run as root: it installs Debian packages and runs Prosody and
# ejabberd as their own system users. See bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

QUICK=0
BUILD=1
for arg in "$@"; do
    case $arg in
        --quick) QUICK=1 ;;
        --no-build) BUILD=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown option: $arg" >&2; usage >&2; exit 2 ;;
    esac
done

SERVERS=${BENCH_SERVERS:-whassap prosody ejabberd}
OUT=${BENCH_OUT:-$ROOT/bench/results}
REPORT=${BENCH_REPORT:-$ROOT/docs/benchmarks.md}
WHASSAP_ADDR=${BENCH_WHASSAP_ADDR:-127.0.0.1:15222}
WHASSAP_HTTP=${BENCH_WHASSAP_HTTP:-127.0.0.1:13000}
ONLY=${BENCH_ONLY:-}
case $ONLY in '' | push) ;; *) echo "BENCH_ONLY: only 'push' is known" >&2; exit 2 ;; esac
PUSH=${BENCH_PUSH:-1}
if [[ $ONLY == push ]]; then PUSH=1; fi
PROSODY_ADDR=127.0.0.1:25222  # fixed in bench/prosody.cfg.lua
EJABBERD_ADDR=127.0.0.1:35222 # fixed in bench/ejabberd.yml
EJABBERD_DIST_PORT=35100      # Erlang distribution, no epmd
EJABBERD_NODE=whassapbench@localhost
EJABBERD_COOKIE=whassapbench

# Where cargo puts the binaries (it honours CARGO_TARGET_DIR, so do we).
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WHASSAP=$TARGET_DIR/release/whassap
BENCH=$TARGET_DIR/release/whassap-bench
PASSWORD=password
PREFIX=bench

# --- sizes --------------------------------------------------------------------
D=$((QUICK ? 10 : 1))
LOGIN_USERS=$((2000 / D)) LOGIN_CONCURRENCY=$((50 / D))
IDLE_USERS=$((2000 / D)) IDLE_HOLD_SECS=$((10 / D))
CHAT_USERS=$((200 / D)) CHAT_RATE=$((2000 / D)) CHAT_SECS=$((10 / D))
PUBSUB_SUBSCRIBERS=$((2000 / D)) PUBSUB_ITEMS=$((20 / D))
PEP_SUBSCRIBERS=$((500 / D)) PEP_ITEMS=$((10 / D))
# Whassap alone, after the side-by-side runs: as many sessions as one process
# may hold here (its file limit is 20,000), and one publish to 15,000.
SCALE_SESSIONS=$((19000 / D)) SCALE_SUBSCRIBERS=$((15000 / D)) SCALE_ITEMS=$((10 / D))
SCALE_SOURCES=127.0.0.2,127.0.0.3
# Whassap alone, push versus poll (see bench/README.md for why these sizes):
# K consumers follow F of U users, who post R statuses/s in all; T seconds
# per mode, polls every P seconds. --quick keeps the rates and shortens it.
PUSH_CONSUMERS=$((200 / D)) PUSH_USERS=200 PUSH_FOLLOWS=100 PUSH_RATE=2
PUSH_SECS=$((QUICK ? 5 : 20)) PUSH_POLL_SECS=10
# REST throughput with wrk: each of POST and GET for REST_SECS.
REST_THREADS=2 REST_CONNECTIONS=32 REST_SECS=$((QUICK ? 2 : 10))
# The fan-outs use account 0 to publish and 1..=S to receive.
ACCOUNTS=0
for n in $LOGIN_USERS $IDLE_USERS $CHAT_USERS $((PUBSUB_SUBSCRIBERS + 1)) $((PEP_SUBSCRIBERS + 1)); do
    if ((n > ACCOUNTS)); then ACCOUNTS=$n; fi
done

# --- time limits (seconds) ------------------------------------------------------
T_APT=600         # apt-get
T_BUILD=1800      # cargo build --release (a cold build on 2 cores is slow)
T_START=90        # until a server's c2s port answers
T_STOP=30         # after SIGTERM, then SIGKILL
T_REGISTER=600    # creating all the accounts on one server
T_SMOKE=60        # pre-flight login and PubSub check
T_SCENARIO=$((QUICK ? 180 : 420))
T_REPORT=120

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*"; }
warn() { printf '%s  WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '%s  ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[[ $(id -u) == 0 ]] || die "run as root (packages are installed, Prosody and ejabberd run as their system users)"

# --- packages -------------------------------------------------------------------
installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# Stop and disable the system-wide service a package may have started on install.
stop_system_service() {
    if [[ -d /run/systemd/system ]]; then
        timeout 60 systemctl disable --now "$1" >/dev/null 2>&1 || true
    else
        timeout 60 service "$1" stop >/dev/null 2>&1 || true
        update-rc.d "$1" disable >/dev/null 2>&1 || true
    fi
}

ensure_packages() {
    local missing=() p
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout $T_APT apt-get install -y --no-install-recommends "${missing[@]}" >"$RUN/apt.log" 2>&1; then
        timeout $T_APT apt-get update >>"$RUN/apt.log" 2>&1 || true
        timeout $T_APT apt-get install -y --no-install-recommends "${missing[@]}" >>"$RUN/apt.log" 2>&1 ||
            die "apt-get install ${missing[*]} failed, see $RUN/apt.log"
    fi
    for p in "${missing[@]}"; do
        case $p in prosody | ejabberd) stop_system_service "$p" ;; esac
    done
}

RUN=$(mktemp -d /tmp/whassap-compare.XXXXXX)
chmod 755 "$RUN" # Prosody and ejabberd run as their own users below it
FAILURES=$RUN/failures
: >"$FAILURES"

cleanup() {
    local rc=$?
    if [[ -s $FAILURES || $rc != 0 || ${BENCH_KEEP:-0} == 1 ]]; then
        rm -rf "${RUN:?}/bin"
        log "run directory kept: $RUN"
    else
        rm -rf "$RUN"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need=(python3 iproute2 util-linux procps openssl)
if [[ -z $ONLY && $SERVERS == *prosody* ]]; then need+=(prosody); fi
if [[ -z $ONLY && $SERVERS == *ejabberd* ]]; then need+=(ejabberd); fi
if [[ $PUSH == 1 && $SERVERS == *whassap* ]]; then need+=(wrk); fi
ensure_packages "${need[@]}"

# --- build ----------------------------------------------------------------------
if ((BUILD)); then
    log "cargo build --release -p whassap -p whassap-bench"
    timeout $T_BUILD cargo build --release -p whassap -p whassap-bench ||
        die "cargo build failed (or took over ${T_BUILD}s)"
fi
[[ -x $WHASSAP && -x $BENCH ]] || die "$WHASSAP or $BENCH is missing (drop --no-build)"
# Run copies, so that a rebuild during the run cannot mix versions.
mkdir -p "$RUN/bin"
cp "$WHASSAP" "$BENCH" "$RUN/bin/"
WHASSAP=$RUN/bin/whassap BENCH=$RUN/bin/whassap-bench

# 2,000 sessions need 2,000 descriptors in the server and as many in the generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(($(ulimit -n) >= 2 * ACCOUNTS + 200)) || warn "only $(ulimit -n) file descriptors allowed"

if [[ $ONLY == push ]]; then
    # Only the push runs: their outcomes are replaced, the others kept.
    mkdir -p "$OUT"
    rm -f "$OUT"/*-poll-vs-push.json "$OUT"/*-rest-throughput.json
    # The lines of an earlier push-only run give way to this one's.
    if [[ -f $OUT/run-info.txt ]]; then sed -i '/^push and REST runs:/d; /^whassap-push:/d' "$OUT/run-info.txt"; fi
    echo "push and REST runs: $(date -u +%FT%TZ), $([[ $QUICK == 1 ]] && echo quick || echo full) sizes, $("$WHASSAP" --version 2>/dev/null || echo 'whassap ?'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/run-info.txt"
else
rm -rf "$OUT"
mkdir -p "$OUT"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "mode: $([[ $QUICK == 1 ]] && echo quick || echo full)"
    echo "host: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
    echo "whassap: $("$WHASSAP" --version 2>/dev/null || echo '?')"
    echo "prosody: $(dpkg-query -W -f '${Version}' prosody 2>/dev/null || echo 'not installed')"
    echo "ejabberd: $(dpkg-query -W -f '${Version}' ejabberd 2>/dev/null || echo 'not installed')"
    echo "erlang: $(dpkg-query -W -f '${Version}' erlang-base 2>/dev/null || echo 'not installed')"
    echo "lua: $(dpkg-query -W -f '${Version}' lua5.4 2>/dev/null || echo 'not installed')"
    echo "accounts: $ACCOUNTS"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/run-info.txt"
fi

# --- process helpers ----------------------------------------------------------
alive() { [[ -e /proc/$1 ]] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# wait_port ADDR PID LOG: until ADDR accepts connections, PID dies, or T_START.
wait_port() {
    local host=${1%:*} port=${1##*:} pid=$2 logfile=$3 deadline=$((SECONDS + T_START))
    until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
        if [[ -n $pid ]] && ! alive "$pid"; then
            tail -n 20 "$logfile" >&2 || true
            die "the server (pid $pid) exited before $1 answered; log: $logfile"
        fi
        ((SECONDS < deadline)) || {
            tail -n 20 "$logfile" >&2 || true
            die "$1 did not answer within ${T_START}s; log: $logfile"
        }
        sleep 0.2
    done
}

# stop_pid PID NAME: SIGTERM, up to T_STOP seconds, then SIGKILL.
stop_pid() {
    local pid=$1 name=$2 deadline=$((SECONDS + T_STOP))
    [[ -n $pid ]] && alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if alive "$pid"; then
        warn "$name (pid $pid) still running ${T_STOP}s after SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    log "$name stopped"
}

check_ports_free() {
    local p
    for p in "$@"; do
        if port_listening "$p"; then
            ss -Hltnp "sport = :$p" >&2 || true
            die "port $p is already in use"
        fi
    done
}

# --- the scenarios ------------------------------------------------------------
# The scenarios: whassap-bench command, then its options. The ones with a
# suffix are recorded under their own name (--record-as).
declare -A SCENARIO=(
    [idle]="idle --users $IDLE_USERS --hold-secs $IDLE_HOLD_SECS"
    [idle-tls]="idle --tls starttls --users $IDLE_USERS --hold-secs $IDLE_HOLD_SECS --record-as idle-tls"
    [login]="login --users $LOGIN_USERS --concurrency $LOGIN_CONCURRENCY"
    [chat]="chat --users $CHAT_USERS --rate $CHAT_RATE --duration-secs $CHAT_SECS"
    [pubsub-fanout]="pubsub-fanout --subscribers $PUBSUB_SUBSCRIBERS --items $PUBSUB_ITEMS"
    [pep-fanout]="pep-fanout --subscribers $PEP_SUBSCRIBERS --items $PEP_ITEMS"
    [idle-scale]="idle --users $SCALE_SESSIONS --concurrency 100 --hold-secs $IDLE_HOLD_SECS --source $SCALE_SOURCES --record-as idle-scale"
    [pubsub-fanout-scale]="pubsub-fanout --subscribers $SCALE_SUBSCRIBERS --items $SCALE_ITEMS --source $SCALE_SOURCES --timeout-secs 120 --record-as pubsub-fanout-scale"
    [poll-vs-push]="poll-vs-push --http $WHASSAP_HTTP --consumers $PUSH_CONSUMERS --users $PUSH_USERS --follows $PUSH_FOLLOWS --rate $PUSH_RATE --duration-secs $PUSH_SECS --poll-interval-secs $PUSH_POLL_SECS"
    [rest-throughput]="rest-throughput --http $WHASSAP_HTTP --threads $REST_THREADS --connections $REST_CONNECTIONS --duration-secs $REST_SECS"
)
# The memory scenarios (idle, idle-tls, idle-scale) each need a freshly
# started server: allocators and garbage collectors keep what earlier
# sessions used.
SIDE_BY_SIDE=()
TLS_RUN=0
for scenario in ${BENCH_SCENARIOS:-idle login chat pubsub-fanout pep-fanout idle-tls}; do
    case $scenario in
        idle | login | chat | pubsub-fanout | pep-fanout) SIDE_BY_SIDE+=("$scenario") ;;
        idle-tls) TLS_RUN=1 ;;
        *) die "BENCH_SCENARIOS: unknown scenario $scenario" ;;
    esac
done

# run_scenarios NAME ADDR PID SCENARIO...
run_scenarios() {
    local name=$1 addr=$2 pid=$3 scenario started
    shift 3
    local common=(--addr "$addr" --domain localhost --pubsub pubsub.localhost --prefix "$PREFIX"
        --password "$PASSWORD" --pid "$pid" --label "$name")
    for scenario in "$@"; do
        alive "$pid" || { echo "$name: server died before $scenario" >>"$FAILURES"; die "$name is not running any more"; }
        # shellcheck disable=SC2206 # the spec is meant to split into words
        local spec=(${SCENARIO[$scenario]})
        log "$name: $scenario: ${spec[*]}"
        started=$(now)
        if timeout --kill-after=10 $T_SCENARIO "$BENCH" "${spec[0]}" "${common[@]}" \
            --json "$OUT/$name-$scenario.json" "${spec[@]:1}" 2>&1 | tee "$RUN/$name-$scenario.out"; then
            log "$name: $scenario done in $(since "$started")s"
            check_outcome "$OUT/$name-$scenario.json" "$name: $scenario"
        else
            warn "$name: $scenario failed or timed out after $(since "$started")s"
            echo "$name: $scenario" >>"$FAILURES"
        fi
    done
}

# check_outcome FILE NAME: a scenario may exit 0 with errors in its outcome
# (counted as failures) or with a saturated generator (only a warning: at
# --quick sizes a phase can be a few milliseconds long).
check_outcome() {
    local line
    while IFS= read -r line; do
        warn "$2: ${line#* }"
        if [[ $line == fail* ]]; then echo "$2: ${line#* }" >>"$FAILURES"; fi
    done < <(python3 - "$1" <<'PY'
import json, sys
try:
    o = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print("fail no readable outcome (%s)" % e)
    sys.exit()
if o.get("errors"):
    print("fail %d errors, first: %s" % (len(o["errors"]), o["errors"][0]))
params, figures = o.get("params", {}), o.get("figures", {})
if "subscribers" in params and figures.get("subscribers_reached", 0) < params["subscribers"]:
    print("fail %d of %d subscribers reached" % (figures.get("subscribers_reached", 0), params["subscribers"]))
for mode in ("poll", "pep", "sse"):
    if figures.get(mode + "_lost", 0) > 0:
        print("fail %s: %d of %d deliveries lost" % (mode, figures[mode + "_lost"], figures.get(mode + "_expected", 0)))
if o.get("generator_saturated"):
    print("warn the load generator was saturated")
PY
    )
}

smoke() {
    log "$1: pre-flight (PLAIN and SCRAM-SHA-1 login, PubSub create and publish)"
    timeout $T_SMOKE python3 "$ROOT/bench/xmpp_smoke.py" "$2" --user "${PREFIX}0" --password "$PASSWORD" ||
        die "$1 failed the pre-flight check"
}

# --- Whassap ------------------------------------------------------------------
run_whassap() {
    local dir=$RUN/whassap started pid
    mkdir -p "$dir"
    check_ports_free "${WHASSAP_ADDR##*:}"
    log "whassap: creating $ACCOUNTS accounts (whassap user add, 2 at a time)"
    started=$(now)
    timeout $T_REGISTER "$WHASSAP" user --data-dir "$dir" add "${PREFIX}0" --password "$PASSWORD" >/dev/null
    seq 1 $((ACCOUNTS - 1)) | timeout $T_REGISTER xargs -P 2 -I{} \
        "$WHASSAP" user --data-dir "$dir" add "${PREFIX}{}" --password "$PASSWORD" >/dev/null
    local count
    count=$(timeout 60 "$WHASSAP" user --data-dir "$dir" list | wc -l)
    ((count >= ACCOUNTS)) || die "whassap: only $count accounts were created"
    log "whassap: $ACCOUNTS accounts in $(since "$started")s"
    echo "whassap registration: $ACCOUNTS accounts in $(since "$started") s (whassap user add, xargs -P 2)" >>"$OUT/run-info.txt"

    start_whassap() {
        # The load generator is one client address: no connection caps.
        "$WHASSAP" serve --allow-plaintext --data-dir "$dir" --c2s-listen "$WHASSAP_ADDR" \
            --c2s-tls-listen '' --s2s-listen '' --http-listen '' --max-connections 0 --max-connections-per-ip 0 \
            --log warn >>"$RUN/whassap.log" 2>&1 &
        pid=$!
        trap 'stop_pid '"$pid"' whassap' EXIT
        wait_port "$WHASSAP_ADDR" "$pid" "$RUN/whassap.log"
        log "whassap: running as pid $pid on $WHASSAP_ADDR"
    }
    start_whassap
    smoke whassap "$WHASSAP_ADDR"
    run_scenarios whassap "$WHASSAP_ADDR" "$pid" "${SIDE_BY_SIDE[@]}"
    stop_pid "$pid" whassap
    if [[ $TLS_RUN == 1 ]]; then
        start_whassap
        run_scenarios whassap "$WHASSAP_ADDR" "$pid" idle-tls
        stop_pid "$pid" whassap
    fi

    if [[ ${BENCH_SCALE:-1} == 1 ]]; then run_whassap_scale; fi
    if [[ $PUSH == 1 ]]; then run_whassap_push; fi
}

run_whassap_scale() {
    local dir=$RUN/whassap started pid
    local total=$((SCALE_SESSIONS > SCALE_SUBSCRIBERS + 1 ? SCALE_SESSIONS : SCALE_SUBSCRIBERS + 1))
    log "whassap: scale runs: adding accounts up to $total"
    started=$(now)
    seq "$ACCOUNTS" $((total - 1)) | timeout $T_REGISTER xargs -P 2 -I{} \
        "$WHASSAP" user --data-dir "$dir" add "${PREFIX}{}" --password "$PASSWORD" >/dev/null ||
        die "whassap: creating the scale accounts failed"
    log "whassap: $total accounts in all ($(since "$started")s)"
    start_whassap
    run_scenarios whassap "$WHASSAP_ADDR" "$pid" idle-scale pubsub-fanout-scale
    stop_pid "$pid" whassap
}

# Whassap alone, with its HTTP listener and the API's rate limits off, in a
# data directory of its own (the scenarios sign their accounts up through
# the REST API): push versus poll, then REST throughput with wrk.
run_whassap_push() {
    local dir=$RUN/whassap-push pid
    [[ -x $(command -v wrk) ]] || die "wrk is not installed"

    mkdir -p "$dir"
    check_ports_free "${WHASSAP_ADDR##*:}" "${WHASSAP_HTTP##*:}"
    WHASSAP_API__TOKEN_REQUESTS_PER_MINUTE=0 WHASSAP_API__IP_REQUESTS_PER_MINUTE=0 \
        "$WHASSAP" serve --allow-plaintext --data-dir "$dir" --c2s-listen "$WHASSAP_ADDR" \
        --c2s-tls-listen '' --s2s-listen '' --http-listen "$WHASSAP_HTTP" --max-connections 0 --max-connections-per-ip 0 \
        --log warn >>"$RUN/whassap-push.log" 2>&1 &
    pid=$!
    trap 'stop_pid '"$pid"' whassap' EXIT
    wait_port "$WHASSAP_ADDR" "$pid" "$RUN/whassap-push.log"
    wait_port "$WHASSAP_HTTP" "$pid" "$RUN/whassap-push.log"
    log "whassap: running as pid $pid on $WHASSAP_ADDR and http://$WHASSAP_HTTP (API rate limits off)"
    run_scenarios whassap "$WHASSAP_ADDR" "$pid" poll-vs-push rest-throughput
    stop_pid "$pid" whassap
}

# --- Prosody ------------------------------------------------------------------
run_prosody() {
    local dir=$RUN/prosody started pid
    mkdir -p "$dir/data"
    cp "$ROOT/bench/prosody.cfg.lua" "$dir/"
    chown -R prosody:prosody "$dir"
    check_ports_free "${PROSODY_ADDR##*:}"
    export BENCH_PROSODY_DIR=$dir BENCH_USERS=$ACCOUNTS
    local cfg=$dir/prosody.cfg.lua

    # prosodyctl takes ~30 ms per account (one Lua process each); every
    # account has the same password, so register one and copy its file.
    log "prosody: creating $ACCOUNTS accounts (prosodyctl register once, then copies)"
    started=$(now)
    timeout 60 prosodyctl --config "$cfg" register "${PREFIX}0" localhost "$PASSWORD" >"$dir/prosodyctl.out" 2>&1 ||
        { cat "$dir/prosodyctl.out" >&2; die "prosody: prosodyctl register failed"; }
    local accounts=$dir/data/localhost/accounts template i
    template=$(<"$accounts/${PREFIX}0.dat")
    for ((i = 1; i < ACCOUNTS; i++)); do
        printf '%s\n' "$template" >"$accounts/$PREFIX$i.dat"
    done
    chown -R prosody:prosody "$dir"
    log "prosody: $ACCOUNTS accounts in $(since "$started")s"
    echo "prosody registration: $ACCOUNTS accounts in $(since "$started") s (prosodyctl register + copies)" >>"$OUT/run-info.txt"

    # A self-signed certificate where Prosody looks for it (`certificates`),
    # so that it offers STARTTLS (never required) for idle-tls.
    timeout 60 openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj /CN=localhost \
        -keyout "$dir/localhost.key" -out "$dir/localhost.crt" >"$dir/openssl.out" 2>&1 ||
        die "prosody: openssl could not make a certificate"
    chown prosody:prosody "$dir/localhost.key" "$dir/localhost.crt"

    # Prosody refuses to run as root; setpriv execs, so $! is Prosody itself.
    start_prosody() {
        setpriv --reuid=prosody --regid=prosody --init-groups -- \
            prosody -F --config "$cfg" >>"$dir/stdout.log" 2>&1 </dev/null &
        pid=$!
        trap 'stop_pid '"$pid"' prosody' EXIT
        wait_port "$PROSODY_ADDR" "$pid" "$dir/prosody.log"
        log "prosody: running as pid $pid on $PROSODY_ADDR"
    }
    start_prosody
    smoke prosody "$PROSODY_ADDR"
    run_scenarios prosody "$PROSODY_ADDR" "$pid" "${SIDE_BY_SIDE[@]}"
    stop_pid "$pid" prosody
    if [[ $TLS_RUN == 1 ]]; then
        start_prosody
        run_scenarios prosody "$PROSODY_ADDR" "$pid" idle-tls
        stop_pid "$pid" prosody
    fi
}

# --- ejabberd -----------------------------------------------------------------
# Registers accounts PREFIX0..PREFIX(N-1) through one Erlang node that calls
# ejabberd_auth:try_register over distribution, with 2 workers.
EJABBERD_REGISTER='
[NodeS, Prefix, Host, Pass, CountS, JobsS] = init:get_plain_arguments(),
Node = list_to_atom(NodeS), Count = list_to_integer(CountS), Jobs = list_to_integer(JobsS),
Reg = fun(I) ->
    U = list_to_binary(Prefix ++ integer_to_list(I)),
    case rpc:call(Node, ejabberd_auth, try_register, [U, list_to_binary(Host), list_to_binary(Pass)], 60000) of
        ok -> ok;
        {error, exists} -> ok;
        Other -> {U, Other}
    end
end,
Self = self(),
Workers = [spawn_link(fun() ->
        Self ! {done, [R || R <- [Reg(I) || I <- lists:seq(J, Count - 1, Jobs)], R =/= ok]}
    end) || J <- lists:seq(0, Jobs - 1)],
Errors = lists:append([receive {done, E} -> E end || _ <- Workers]),
case Errors of
    [] -> halt(0);
    [First | _] -> io:format(standard_error, "~p failed, first: ~p~n", [length(Errors), First]), halt(1)
end.'

run_ejabberd() {
    local dir=$RUN/ejabberd started pid=
    mkdir -p "$dir/spool" "$dir/log"
    cp "$ROOT/bench/ejabberd.yml" "$dir/"
    # The node uses a fixed distribution port on 127.0.0.1 instead of epmd,
    # and a cookie of its own (no ~/.erlang.cookie is read or written).
    cat >"$dir/ejabberdctl.cfg" <<EOF
ERLANG_NODE=$EJABBERD_NODE
ERL_OPTIONS="-setcookie $EJABBERD_COOKIE -env ERL_CRASH_DUMP_BYTES 0"
INET_DIST_INTERFACE=127.0.0.1
ERL_DIST_PORT=$EJABBERD_DIST_PORT
ERL_MAX_PORTS=65536
EJABBERD_PID_PATH=$dir/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
EOF
    chown -R ejabberd:ejabberd "$dir"
    check_ports_free "${EJABBERD_ADDR##*:}" "$EJABBERD_DIST_PORT"
    # Run ejabberdctl as the ejabberd user ourselves: as root it would `su`,
    # and PAM resets the open-files limit to 1024, which 2,000 sessions
    # exceed (ejabberd then fails accepts, Mnesia cannot open files, and the
    # node shuts down). setpriv keeps this shell's limit.
    local ctl=(setpriv --reuid=ejabberd --regid=ejabberd --init-groups env HOME="$dir"
        ejabberdctl --config "$dir/ejabberd.yml" --ctl-config "$dir/ejabberdctl.cfg"
        --spool "$dir/spool" --logs "$dir/log")

    trap 'stop_pid "$(cat '"$dir"'/ejabberd.pid 2>/dev/null)" ejabberd' EXIT
    start_ejabberd() {
        rm -f "$dir/ejabberd.pid"
        timeout 60 "${ctl[@]}" start || die "ejabberd: ejabberdctl start failed"
        local deadline=$((SECONDS + T_START))
        until [[ -s $dir/ejabberd.pid ]]; do
            ((SECONDS < deadline)) || { tail -n 20 "$dir/log/ejabberd.log" >&2 || true; die "ejabberd wrote no pid file in ${T_START}s"; }
            sleep 0.2
        done
        pid=$(<"$dir/ejabberd.pid")
        wait_port "$EJABBERD_ADDR" "$pid" "$dir/log/ejabberd.log"
        log "ejabberd: running as pid $pid on $EJABBERD_ADDR (node $EJABBERD_NODE)"
    }
    start_ejabberd

    # `ejabberdctl register` starts an Erlang VM per account (~0.35 s each).
    log "ejabberd: creating $ACCOUNTS accounts (ejabberd_auth:try_register over Erlang distribution)"
    started=$(now)
    timeout $T_REGISTER erl -sname "whassapbenchreg$$@localhost" -hidden -noinput \
        -setcookie "$EJABBERD_COOKIE" -erl_epmd_port "$EJABBERD_DIST_PORT" -start_epmd false -dist_listen false \
        -eval "$EJABBERD_REGISTER" -extra "$EJABBERD_NODE" "$PREFIX" localhost "$PASSWORD" "$ACCOUNTS" 2 ||
        die "ejabberd: registering the accounts failed"
    log "ejabberd: $ACCOUNTS accounts in $(since "$started")s"
    echo "ejabberd registration: $ACCOUNTS accounts in $(since "$started") s (erl rpc ejabberd_auth:try_register, 2 workers)" >>"$OUT/run-info.txt"

    smoke ejabberd "$EJABBERD_ADDR"
    run_scenarios ejabberd "$EJABBERD_ADDR" "$pid" "${SIDE_BY_SIDE[@]}"
    stop_pid "$pid" ejabberd
    # The accounts stay in the Mnesia spool for the second start.
    if [[ $TLS_RUN == 1 ]]; then
        start_ejabberd
        run_scenarios ejabberd "$EJABBERD_ADDR" "$pid" idle-tls
        stop_pid "$pid" ejabberd
    fi
}

# --- main ---------------------------------------------------------------------
log "run directory $RUN; results in $OUT; $([[ $ONLY == push ]] && echo "push and REST runs only" || echo "$ACCOUNTS accounts per server"); $([[ $QUICK == 1 ]] && echo quick || echo full) sizes"
total_started=$(now)
if [[ $ONLY == push ]]; then
    SERVERS=whassap-push # the push and REST runs alone
fi
# The floor of each fan-out, in the same run: the same notification bytes
# written to as many sockets, no server (both ends are in the generator, so
# the scale run's floor is capped at 9,000 sockets by its file limit).
if [[ $ONLY != push ]]; then
    scale_floor=$((SCALE_SUBSCRIBERS < 9000 ? SCALE_SUBSCRIBERS : 9000))
    for spec in "pubsub-fanout $PUBSUB_SUBSCRIBERS $PUBSUB_ITEMS" "pep-fanout $PEP_SUBSCRIBERS $PEP_ITEMS" \
        "pubsub-fanout-scale $scale_floor $SCALE_ITEMS"; do
        read -r of n items <<<"$spec"
        log "floor of $of: $n sockets, $items rounds"
        timeout --kill-after=10 $T_SCENARIO "$BENCH" floor --sessions "$n" --items "$items" \
            --label "$of" --json "$OUT/floor-$of.json" || echo "floor of $of" >>"$FAILURES"
    done
fi
for server in $SERVERS; do
    case $server in whassap | prosody | ejabberd | whassap-push) ;; *) die "unknown server $server" ;; esac
    server_started=$(now)
    log "=== $server"
    # One subshell per server: its EXIT trap stops the server whatever happens,
    # and a failure skips to the next server.
    set +e
    (
        set -e
        trap 'exit 130' INT TERM
        "run_${server//-/_}"
    )
    rc=$?
    set -e
    ((rc == 130)) && exit 130
    if ((rc != 0)); then
        warn "$server: aborted (exit $rc)"
        echo "$server: aborted" >>"$FAILURES"
    fi
    log "=== $server: $(since "$server_started")s"
    echo "$server: done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/run-info.txt"
done

if compgen -G "$OUT/*.json" >/dev/null; then
    log "report: $REPORT"
    timeout $T_REPORT "$BENCH" report --dir "$OUT" --out "$REPORT" ||
        { warn "whassap-bench report failed"; echo "report" >>"$FAILURES"; }
else
    warn "no outcome was written: no report"
    echo "report: no outcomes" >>"$FAILURES"
fi

log "total $(since "$total_started")s"
if [[ -s $FAILURES ]]; then
    warn "some steps failed:"
    sed 's/^/    /' "$FAILURES" >&2
    exit 1
fi
log "all servers and scenarios done"
