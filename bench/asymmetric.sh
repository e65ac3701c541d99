#!/usr/bin/env bash
# Asymmetric and HMAC keys through the server, beside the raw speed of the
# same primitives on the same cores (`trent primitive-speed`, which calls the
# key handles the service calls, with nothing around them).
#
# Measures, at 64 connections with pre-signed requests (bench/wrkgen.py) and
# the audit trail on (the default): Sign with ECC_NIST_P256 and RSA_2048,
# Verify with both, GenerateMac (HMAC_256, 1 KiB) and Encrypt (1 KiB) in
# turns, ROUNDS times (Encrypt and P-256 Sign also with the trail off). Then Encrypt's latency at 8 connections alone, and
# again while RSA_4096 Sign runs at 64 connections: RSA work runs on a
# bounded pool, so it must not stall the async workers that answer the
# cheap requests. Results: stdout and bench/results/<time>/summary.md.
#
# Knobs: DURATION (seconds per run, default 10), ROUNDS (default 3), PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

echo "== Trent $(git rev-parse --short HEAD), $(nproc) cores, ${DURATION}s per run, x$ROUNDS" | tee "$OUT/summary.md"
: > "$OUT/rows.tsv"

{ cat "$WORK/trent.toml"; printf '\n[audit]\nenabled = false\n'; } > "$WORK/trent-noaudit.toml"
start_trent
"$PY" "$GEN" setup --endpoint "$URL" --out "$WORK/state.json"
"$PY" "$GEN" setup-asymmetric --endpoint "$URL" --state "$WORK/state.json"
stop_server
# The raw rates are measured in every round, right before the server's: the
# VM's speed drifts by up to 20% over minutes, so each ratio compares
# neighbours.
: > "$OUT/primitives.tsv"
for r in $(seq 1 "$ROUNDS"); do
    "$BIN" primitive-speed --seconds 2 | tee -a "$OUT/primitives.tsv"
    start_trent
    for op in encrypt generate-mac sign-p256 verify-p256 sign-rsa2048 verify-rsa2048; do
        "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op "$op" > "$WORK/$op.lua"
        run_wrk "$op-c64" 64 "$WORK/$op.lua"
    done
    stop_server
    # The same Encrypt and P-256 Sign with the audit trail off: the trail's
    # fdatasync'd event is a fixed cost per request, heavier beside a cheap
    # signature than beside an RSA one.
    CONFIG="$WORK/trent-noaudit.toml" start_trent
    for op in encrypt sign-p256; do
        run_wrk "$op-c64-audit-off" 64 "$WORK/$op.lua"
    done
    stop_server
done

# Encrypt's latency alone, then beside RSA-4096 signing at full load. The
# Encrypt wrk is started a second after the signing one and ends before it.
start_trent
for op in encrypt sign-rsa4096; do
    "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op "$op" > "$WORK/$op.lua"
done
for r in $(seq 1 "$ROUNDS"); do
    run_wrk "encrypt-c8-alone" 8 "$WORK/encrypt.lua"
    wrk -t1 -c64 -d"$((DURATION + 2))s" --latency -s "$WORK/sign-rsa4096.lua" "$URL" > "$OUT/rsa4096-background-$r.txt" &
    BG=$!
    sleep 1
    run_wrk "encrypt-c8-beside-rsa4096-sign-c64" 8 "$WORK/encrypt.lua"
    wait "$BG"
    grep -E "Requests/sec|Non-2xx" "$OUT/rsa4096-background-$r.txt" | sed 's/^/  rsa4096 sign beside: /'
done
stop_server

"$PY" - "$OUT/rows.tsv" "$OUT/primitives.tsv" >> "$OUT/summary.md" <<'PYEOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
raw_runs = {}
for n, r in (l.split("\t") for l in open(sys.argv[2]) if l.strip()):
    raw_runs.setdefault(n, []).append(float(r))
raw = {n: statistics.median(v) for n, v in raw_runs.items()}
runs = {}
for name, c, rps, p50, p99, cpu in rows:
    runs.setdefault(name, (c, []))[1].append((float(rps), float(p50), float(p99), float(cpu)))
def med(name, i=0):
    return statistics.median(x[i] for x in runs[name][1])
print("\n| run | connections | requests/s | p50 ms | p99 ms | server CPU µs/request | runs |\n|---|---|---|---|---|---|---|")
for name, (c, xs) in runs.items():
    print(f"| {name} | {c} | {med(name):.0f} | {med(name, 1):.2f} | {med(name, 2):.2f} | {med(name, 3):.1f} | {len(xs)} |")
print("\nRaw primitives on every core (trent primitive-speed, median of the rounds): " + ", ".join(f"{k} {v:.0f}/s" for k, v in raw.items()))
print(f"\nECDSA P-256 Sign through the server: {med('sign-p256-c64'):.0f} requests/s (target >= 20,000; raw {raw['ecdsa-p256-sign']:.0f}/s);"
      f" {med('sign-p256-c64') / med('encrypt-c64'):.2f} of Encrypt's rate in the same rounds;"
      f" audit trail off: {med('sign-p256-c64-audit-off'):.0f} requests/s (Encrypt {med('encrypt-c64-audit-off'):.0f})")
rounds = [s[0] / r for s, r in zip(runs["sign-rsa2048-c64"][1], raw_runs["rsa-2048-sign"])]
print(f"RSA-2048 Sign through the server / raw two-core signing: {med('sign-rsa2048-c64'):.0f} / {raw['rsa-2048-sign']:.0f} = {med('sign-rsa2048-c64') / raw['rsa-2048-sign']:.2f}"
      f" (each round: {', '.join(f'{x:.2f}' for x in rounds)}; target >= 0.60)")
print(f"Verify through the server: ECDSA P-256 {med('verify-p256-c64'):.0f}/s (raw {raw['ecdsa-p256-verify']:.0f}), RSA-2048 {med('verify-rsa2048-c64'):.0f}/s (raw {raw['rsa-2048-verify']:.0f})")
print(f"GenerateMac / Encrypt (1 KiB, in turns): {med('generate-mac-c64'):.0f} / {med('encrypt-c64'):.0f} = {med('generate-mac-c64') / med('encrypt-c64'):.2f} (target >= 0.80)")
a, b = "encrypt-c8-alone", "encrypt-c8-beside-rsa4096-sign-c64"
print(f"Encrypt at 8 connections, alone / beside RSA-4096 Sign at 64 connections: p50 {med(a, 1):.2f} / {med(b, 1):.2f} ms, p99 {med(a, 2):.2f} / {med(b, 2):.2f} ms, {med(a):.0f} / {med(b):.0f} requests/s")
PYEOF
cat "$OUT/summary.md"
echo "raw wrk output: $OUT"
