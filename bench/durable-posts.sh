#!/usr/bin/env bash
# Durable posts per second and their latency, one node, on SQLite and on
# PostgreSQL, each committed alone (--status-group-commit 1: one fsync or
# commit round trip per post, as before group commit) and together (the
# default). Every run is `whassap bench rest-throughput` (wrk posting with
# 32 keep-alive connections, then reading the timeline) against a fresh
# release server and a fresh database.
#
#   cargo build --release && bench/durable-posts.sh
#
# PG_ADMIN names the PostgreSQL server (default
# postgres://postgres@127.0.0.1:5432/postgres); a database
# whassap_bench_posts is created and dropped there.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/whassap
SECS=${SECS:-10}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=whassap_bench_posts
PG_URL="${PG_ADMIN%/*}/$PG_DB"
HTTP=127.0.0.1:3077
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

run() { # database group label
    local data="$work/$3" db=""
    if [ "$1" = postgres ]; then
        psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" -c "CREATE DATABASE $PG_DB"
        db=$PG_URL
    fi
    WHASSAP_API__TOKEN_REQUESTS_PER_MINUTE=0 WHASSAP_API__IP_REQUESTS_PER_MINUTE=0 \
        "$BIN" serve --data-dir "$data" --database "$db" --status-group-commit "$2" \
        --c2s-listen '' --c2s-tls-listen '' --s2s-listen '' --http-listen "$HTTP" \
        --max-connections 0 --max-connections-per-ip 0 --log warn &
    pid=$!
    for _ in $(seq 100); do curl -sf "http://$HTTP/healthz" >/dev/null && break; sleep 0.1; done
    echo "== $3: $1, --status-group-commit $2" >&2
    "$BIN" bench rest-throughput --http "$HTTP" --pid "$pid" --duration-secs "$SECS" \
        --label "$3" --json "$work/$3.json"
    echo "$3: $(cat "$work/$3.json")"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    [ "$1" = postgres ] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
    return 0
}
run sqlite 1 sqlite-alone
run sqlite 256 sqlite-grouped
run postgres 1 postgres-alone
run postgres 256 postgres-grouped
