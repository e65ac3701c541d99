#!/usr/bin/env bash
# Encrypt and Decrypt (1 KiB, 64 connections, pre-signed requests, audit
# trail on) with an ordinary key, a key with imported material, and a
# multi-Region key's replica in another Region (Decrypt there of a
# ciphertext its primary made), in turns, ROUNDS times. The three must run
# at the same rate: imported material and replicas are served from the same
# cache entry as any key. Then the same through the service alone
# (`trent key-speed`). Results: stdout and bench/results/<time>/summary.md.
#
# Knobs: DURATION (seconds per run, default 10), ROUNDS (default 3), PORT.
# The figures in docs/benchmarks.md: ROUNDS=10 DURATION=3 (short runs in
# many rounds, so that each ratio compares neighbours in time).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

echo "== Trent $(git rev-parse --short HEAD), $(nproc) cores, ${DURATION}s per run, x$ROUNDS" | tee "$OUT/summary.md"
: > "$OUT/rows.tsv"
start_trent
"$PY" "$GEN" setup --endpoint "$URL" --out "$WORK/state.json"
"$PY" "$GEN" setup-keys --endpoint "$URL" --state "$WORK/state.json"
# (name, op, key, ciphertext, Region)
cat > "$WORK/runs.txt" <<'RUNS'
encrypt-ordinary encrypt key blob us-east-1
encrypt-imported encrypt byok byok_blob us-east-1
encrypt-replica encrypt mrk mrk_blob eu-west-1
decrypt-ordinary decrypt key blob us-east-1
decrypt-imported decrypt byok byok_blob us-east-1
decrypt-replica decrypt mrk mrk_blob eu-west-1
RUNS
for r in $(seq 1 "$ROUNDS"); do
    # Each round starts with another kind of key (the first run of a group
    # tends to differ), and re-signs its requests (SigV4's five-minute window).
    shift_by=$(( (r - 1) % 3 ))
    for op in encrypt decrypt; do
        grep "^$op-" "$WORK/runs.txt" | awk -v s="$shift_by" '{ l[NR-1] = $0 } END { for (i = 0; i < NR; i++) print l[(i + s) % NR] }'
    done > "$WORK/round.txt"
    while read -r name op key blob region; do
        "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op "$op" \
            --key "$key" --blob "$blob" --region "$region" > "$WORK/$name.lua"
        run_wrk "$name" 64 "$WORK/$name.lua"
    done < "$WORK/round.txt"
done
stop_server

"$PY" - "$OUT/rows.tsv" >> "$OUT/summary.md" <<'PYEOF'
import statistics, sys
sys.path.insert(0, "bench")
from rows import load, print_table
runs = load(sys.argv[1])
print_table(runs)
# The VM's speed drifts by tens of percent over minutes: each ratio compares
# the runs of one round (neighbours in time), then takes the median.
for op in ("encrypt", "decrypt"):
    for kind in ("imported", "replica"):
        pairs = list(zip(runs[f"{op}-{kind}"], runs[f"{op}-ordinary"]))
        rps = [a[0] / b[0] for a, b in pairs]
        cpu = [a[3] / b[3] for a, b in pairs]
        print(f"\n{op} {kind} / ordinary: requests/s {statistics.median(rps):.3f} (rounds {min(rps):.2f}-{max(rps):.2f}),"
              f" CPU per request {statistics.median(cpu):.3f} (rounds {min(cpu):.2f}-{max(cpu):.2f}); target: within 5%")
PYEOF
# The same comparison without the network, where the VM's drift is smaller:
# the service alone on one thread, the three kinds in alternating 100 ms
# slices (`trent key-speed`).
"$BIN" key-speed --seconds "$DURATION" > "$OUT/key-speed.tsv"
"$PY" - "$OUT/key-speed.tsv" >> "$OUT/summary.md" <<'PYEOF'
import sys
r = dict((n, float(v)) for n, v in (l.split("\t") for l in open(sys.argv[1]) if l.strip()))
print("\nThrough the service alone (trent key-speed, one thread, interleaved slices): " + ", ".join(
    f"{op} {kind}/ordinary {r[f'{op}-{kind}'] / r[f'{op}-ordinary']:.3f}" for op in ("encrypt", "decrypt") for kind in ("imported", "replica"))
    + f" (ordinary: Encrypt {r['encrypt-ordinary']:.0f}/s, Decrypt {r['decrypt-ordinary']:.0f}/s)")
PYEOF
cat "$OUT/summary.md"
echo "raw wrk output: $OUT"
