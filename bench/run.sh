#!/usr/bin/env bash
# Trent throughput and latency, reproducible: builds release, starts Trent with
# signature verification on, and drives it with wrk on loopback using
# pre-signed requests. Measures Encrypt (1 KiB), Decrypt and GenerateDataKey at
# 1, 8 and 64 connections; a bare hyper server on the same port and stack for
# the ratio; Encrypt under a ten-statement key policy against the default
# one, over TLS against plain HTTP, and with the audit trail on against off,
# in turns; the trail's size per event and LookupEvents over a million
# events (bench/lookup.py); the server's memory under a flood of
# unauthenticated 1 MiB bodies (bench/flood.py); Encrypt with 100,000 keys (a
# random key per request) and the server's memory. Results: stdout and
# bench/results/<time>/summary.md.
#
# Knobs: DURATION (seconds per run, default 10), KEYS (default 100000),
# ROUNDS (turns of the headline comparisons, default 3), PORT (default 18480).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

echo "== Trent $(git rev-parse --short HEAD), $(nproc) cores, ${DURATION}s per run, headline runs x$ROUNDS" | tee "$OUT/summary.md"
: > "$OUT/rows.tsv"
start_trent
"$PY" "$GEN" setup --endpoint "$URL" --out "$WORK/state.json"
for op in encrypt decrypt generate-data-key; do
    for c in 1 8 64; do
        # Encrypt at 64 connections is the headline: measured below, in rounds.
        [ "$op" = encrypt ] && [ "$c" = 64 ] && continue
        "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op "$op" > "$WORK/$op.lua"
        run_wrk "$op-c$c" "$c" "$WORK/$op.lua"
    done
done
stop_server

# The headline ratio: Trent and the bare server take turns on the same port,
# ROUNDS times, and the medians are compared. This machine's speed drifts by
# up to 20% over minutes (it is a VM); measuring the two minutes apart would
# compare the drift, not the servers.
for r in $(seq 1 "$ROUNDS"); do
    start_trent
    "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op encrypt > "$WORK/encrypt.lua"
    run_wrk "encrypt-c64" 64 "$WORK/encrypt.lua"
    stop_server
    "$BIN" hello-server --listen "$HOST" &
    SERVER_PID=$!
    wait_port
    run_wrk "bare-hyper-hello-c64" 64 "$WORK/encrypt.lua"
    stop_server
done

# The authorization and TLS comparisons run with the audit trail off, so each
# isolates one factor (the trail's own cost is measured after them).
{ cat "$WORK/trent.toml"; printf '\n[audit]\nenabled = false\n'; } > "$WORK/trent-noaudit.toml"

# Authorization's cost: Encrypt with an encryption context, as the account
# root under the default key policy, and as an IAM user with an identity
# policy under a ten-statement key policy with conditions on the context and
# the principal, in turns.
for r in $(seq 1 "$ROUNDS"); do
    CONFIG="$WORK/trent-noaudit.toml" start_trent
    "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op encrypt-context > "$WORK/authz-default.lua"
    "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op encrypt-context --policy-key --as-user > "$WORK/authz-policy.lua"
    run_wrk "encrypt-default-policy-c64" 64 "$WORK/authz-default.lua"
    run_wrk "encrypt-ten-statements-and-identity-policy-c64" 64 "$WORK/authz-policy.lua"
    stop_server
done

# TLS against plain HTTP: the same server build and data, in turns. wrk keeps
# its connections alive, so this is the cost of record encryption, not of
# handshakes.
for r in $(seq 1 "$ROUNDS"); do
    CONFIG="$WORK/trent-noaudit.toml" start_trent
    "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op encrypt > "$WORK/encrypt.lua"
    run_wrk "encrypt-plain-http-c64" 64 "$WORK/encrypt.lua"
    stop_server
    CONFIG="$WORK/trent-noaudit.toml" start_trent --dev-tls
    run_wrk "encrypt-tls-c64" 64 "$WORK/encrypt.lua" "https://$HOST/"
    stop_server
done

# The audit trail's cost: Encrypt with the trail on (the default: each
# event on disk, fdatasync'd, before its answer, in group commits) and off,
# in turns. The earlier runs' trail is set aside first, so the trail then
# holds one CreateKey and Encrypt events only: its size per event, then
# LookupEvents over a million events.
rm -rf "$WORK/data/audit"
start_trent
"$PY" bench/lookup.py --endpoint "$URL" --access-key AKIABENCH00000000001 --secret bench-secret-access-key --mark
stop_server
for r in $(seq 1 "$ROUNDS"); do
    start_trent
    "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op encrypt > "$WORK/encrypt.lua"
    run_wrk "encrypt-audit-on-c64" 64 "$WORK/encrypt.lua"
    stop_server
    CONFIG="$WORK/trent-noaudit.toml" start_trent
    run_wrk "encrypt-audit-off-c64" 64 "$WORK/encrypt.lua"
    stop_server
done
trail_events() { cat "$WORK"/data/audit/*/*.jsonl | wc -l; }
AUDIT_EVENTS=$(trail_events)
AUDIT_BYTES=$(du -cb "$WORK/data/audit" | tail -1 | cut -f1)
start_trent
while [ "$(trail_events)" -lt 1000000 ]; do
    "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op encrypt > "$WORK/encrypt.lua"
    wrk -t2 -c64 -d10s -s "$WORK/encrypt.lua" "$URL" > /dev/null
done
LOOKUP_EVENTS=$(trail_events)
KEY_ARN="arn:aws:kms:us-east-1:111122223333:key/$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$WORK/state.json")"
"$PY" bench/lookup.py --endpoint "$URL" --access-key AKIABENCH00000000001 --secret bench-secret-access-key \
    --key-arn "$KEY_ARN" > "$OUT/lookup.json"
stop_server
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); d.update(events=int(sys.argv[2]), bytes=int(sys.argv[3]), lookup_events=int(sys.argv[4])); json.dump(d, open(sys.argv[1], "w"))' \
    "$OUT/lookup.json" "$AUDIT_EVENTS" "$AUDIT_BYTES" "$LOOKUP_EVENTS"
cat "$OUT/lookup.json"
rm -rf "$WORK/data/audit"

# A flood of unauthenticated 1 MiB bodies on 1,500 connections (half an
# unknown access key, half a configured key id without its secret), with a
# signed Encrypt of another credential every 200 ms: the server's memory and
# the good requests' fate.
start_trent
ulimit -n 8192 2>/dev/null || true
"$PY" bench/flood.py --endpoint "$URL" --pid "$SERVER_PID" --access-key AKIABENCH00000000001 \
    --secret bench-secret-access-key --flood-key AKIABENCHFLOODED0002 --connections 1500 --body-mib 1 > "$OUT/flood.json"
stop_server
cat "$OUT/flood.json"

echo "seeding $KEYS keys..."
SEED_START=$(date +%s)
"$BIN" seed-keys --config "$WORK/trent.toml" --data-dir "$WORK/data" --count "$KEYS" --out "$WORK/ids.txt" 2>>"$OUT/server.log"
echo "seeded in $(( $(date +%s) - SEED_START ))s"
start_trent
"$PY" "$GEN" dynamic --host "$HOST" --ids "$WORK/ids.txt" > "$WORK/dynN.lua"
# Warm-up: every key is loaded from the store into the cache once.
wrk -t2 -c64 -d"${DURATION}s" -s "$WORK/dynN.lua" "$URL" > "$OUT/warmup.txt"
# The same script shape (requests built once per wrk thread, one picked at
# random per request) over all keys, and over one of them, in turns.
head -1 "$WORK/ids.txt" > "$WORK/one.txt"
for r in $(seq 1 "$ROUNDS"); do
    "$PY" "$GEN" dynamic --host "$HOST" --ids "$WORK/ids.txt" > "$WORK/dynN.lua"
    run_wrk "encrypt-random-key-of-$KEYS-c64" 64 "$WORK/dynN.lua"
    "$PY" "$GEN" dynamic --host "$HOST" --ids "$WORK/one.txt" > "$WORK/dyn1.lua"
    run_wrk "encrypt-one-key-same-script-c64" 64 "$WORK/dyn1.lua"
done
RSS_KB=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
HWM_KB=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
DB_BYTES=$(du -cb --exclude=audit "$WORK/data" | tail -1 | cut -f1)
stop_server

"$PY" - "$OUT/rows.tsv" "$RSS_KB" "$HWM_KB" "$KEYS" "$DB_BYTES" "$OUT/flood.json" "$OUT/lookup.json" >> "$OUT/summary.md" <<'PYEOF'
import json, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
rss, hwm, keys, db = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
runs = {}
for name, c, rps, p50, p99, cpu in rows:
    runs.setdefault(name, (c, []))[1].append((float(rps), float(p50), float(p99), float(cpu)))
def med(name, i=0):
    return statistics.median(x[i] for x in runs[name][1])
print("\n| run | connections | requests/s | p50 ms | p99 ms | server CPU µs/request | runs |\n|---|---|---|---|---|---|---|")
for name, (c, xs) in runs.items():
    print(f"| {name} | {c} | {med(name):.0f} | {med(name, 1):.2f} | {med(name, 2):.2f} | {med(name, 3):.1f} | {len(xs)} |")
print("\n(median of the runs; every run is in rows.tsv)")
enc, hello = med("encrypt-c64"), med("bare-hyper-hello-c64")
many, one = med(f"encrypt-random-key-of-{keys}-c64"), med("encrypt-one-key-same-script-c64")
print(f"\nEncrypt 1 KiB at 64 connections / bare hyper server: {enc:.0f} / {hello:.0f} = {enc / hello:.2f}")
print(f"Encrypt, a random key of {keys} per request / one key, same script: {many:.0f} / {one:.0f} = {many / one:.2f}")
print(f"Encrypt, a random key of {keys} per request / one-key store (static script): {many:.0f} / {enc:.0f} = {many / enc:.2f}")
print(f"Server memory with {keys} keys cached: RSS {rss / 1024:.0f} MiB (peak {hwm / 1024:.0f} MiB); store on disk {db / 2**20:.0f} MiB")
dp, tp = med("encrypt-default-policy-c64"), med("encrypt-ten-statements-and-identity-policy-c64")
print(f"Encrypt 1 KiB at 64 connections, ten-statement key policy + identity policy / default key policy (in turns): {tp:.0f} / {dp:.0f} = {tp / dp:.2f}")
tls, plain = med("encrypt-tls-c64"), med("encrypt-plain-http-c64")
print(f"Encrypt 1 KiB at 64 connections, TLS / plain HTTP (in turns): {tls:.0f} / {plain:.0f} = {tls / plain:.2f}"
      f" (each round: {', '.join(f'{t[0] / p[0]:.2f}' for t, p in zip(runs['encrypt-tls-c64'][1], runs['encrypt-plain-http-c64'][1]))});"
      f" server CPU per request {med('encrypt-tls-c64', 3):.1f} / {med('encrypt-plain-http-c64', 3):.1f} µs")
on, off = med("encrypt-audit-on-c64"), med("encrypt-audit-off-c64")
print(f"Encrypt 1 KiB at 64 connections, audit trail on / off (in turns): {on:.0f} / {off:.0f} = {on / off:.2f}"
      f" (each round: {', '.join(f'{a[0] / b[0]:.2f}' for a, b in zip(runs['encrypt-audit-on-c64'][1], runs['encrypt-audit-off-c64'][1]))});"
      f" server CPU per request {med('encrypt-audit-on-c64', 3):.1f} / {med('encrypt-audit-off-c64', 3):.1f} µs")
lk = json.load(open(sys.argv[7]))
print(f"Audit trail per million Encrypts (segments, indexes, digests): {lk['bytes'] / lk['events'] * 1e6 / 2**20:.0f} MiB"
      f" ({lk['bytes'] / lk['events']:.0f} bytes per event, {lk['events']} events measured)")
queries = "; ".join("%s: p50 %s ms, max %s ms, %s found" % (k, v["p50_ms"], v["max_ms"], v["found"])
                    for k, v in lk.items() if isinstance(v, dict))
print(f"LookupEvents over {lk['lookup_events']} events (boto3): {queries}")
f = json.load(open(sys.argv[6]))
print(f"Flood of {f['connections']} unauthenticated {f['body_bytes'] >> 20} MiB bodies: server RSS peak {f['rss_peak_mib']} MiB "
      f"(before {f['rss_before_mib']} MiB); signed Encrypts during it: {f['good_ok']}/{f['good_requests']} succeeded, "
      f"slowest {f['good_max_latency_s'] * 1000:.0f} ms; attackers: {f['attacker_outcomes']}")
PYEOF
cat "$OUT/summary.md"
echo "raw wrk output: $OUT"
