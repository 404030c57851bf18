#!/usr/bin/env bash
# Server CPU per 1,000 deliveries of a PubSub publish to S subscribers, on
# the publisher's own server and on a peer domain (federation), with two
# release builds of Whassap on two loopback addresses.
#
#   cargo build --release && bench/federation.sh      (SUBSCRIBERS=1000 ITEMS=20)
#
# The CPU is the publishing server's (a.test), read from /proc by
# `whassap bench pubsub-fanout --pid`.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SUBSCRIBERS:-1000}
ITEMS=${ITEMS:-20}
BIN=target/release/whassap
A=127.0.0.31
B=127.0.0.32
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

serve() { # domain ip peer-domain peer-ip
    "$BIN" serve --domain "$1" --data-dir "$work/$1" --allow-plaintext \
        --c2s-listen "$2:5222" --c2s-tls-listen '' --http-listen '' \
        --s2s-listen "$2:5269" --s2s-route "$3=$4:5269" --s2s-route "pubsub.$3=$4:5269" \
        --max-connections 0 --max-connections-per-ip 0 --log warn &
    pids+=($!)
}
serve a.test "$A" b.test "$B"
pid_a=${pids[0]}
serve b.test "$B" a.test "$A"
sleep 2

echo "creating accounts (bench0..bench$S on both servers)" >&2
seq 0 "$S" | xargs -P 2 -I{} "$BIN" user add "bench{}" --password password --data-dir "$work/a.test" >/dev/null
seq 1 "$S" | xargs -P 2 -I{} "$BIN" user add "bench{}" --password password --data-dir "$work/b.test" >/dev/null

common=(--sasl plain --subscribers "$S" --items "$ITEMS" --pid "$pid_a" --pubsub pubsub.a.test)
echo "== local: publisher and $S subscribers on a.test" >&2
"$BIN" bench pubsub-fanout "${common[@]}" --addr "$A:5222" --domain a.test --label local \
    --json "$work/local.json"
echo "== federated: publisher on a.test, $S subscribers on b.test" >&2
"$BIN" bench pubsub-fanout "${common[@]}" --addr "$B:5222" --domain b.test \
    --publisher-addr "$A:5222" --publisher-domain a.test --label federated \
    --json "$work/federated.json"
for f in local federated; do
    echo "$f: $(cat "$work/$f.json")"
done
