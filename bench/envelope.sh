#!/usr/bin/env bash
# Client-side envelope encryption speed: `trent encrypt` / `trent decrypt` on
# a 1 GiB file with the unsigned committing suite and the default signed
# suite, against AWS's aws-encryption-sdk-cli on the same file, in the same
# run, with the data key from a KMS key on a local Trent. Reports MB/s
# (1 MB = 10^6 bytes) and peak memory (max RSS), median of ROUNDS.
#
# The input is in the page cache (read once before); outputs go to the same
# filesystem, are not fsynced (neither tool does), and are deleted between
# runs; each run starts after a sync. Results: stdout and bench/results/<time>/envelope.md.
#
# Knobs: SIZE_MB (default 1024, in MiB), ROUNDS (default 3), PORT (default
# 18490), OFFICIAL (1 to include AWS's CLI, the default).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE_MB=${SIZE_MB:-1024}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18490}
OFFICIAL=${OFFICIAL:-1}
OUT="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
cargo build --release --locked
BIN="$ROOT/target/release/trent"
ESDK="$ROOT/.venv/bin/aws-encryption-cli"

"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secret AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$PORT" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true
KEY=$(.venv/bin/aws kms create-key --query KeyMetadata.Arn --output text --endpoint-url "$AWS_ENDPOINT_URL_KMS")

head -c "$((SIZE_MB * 1048576))" /dev/urandom > "$WORK/input"
cat "$WORK/input" > /dev/null
BYTES=$(stat -c %s "$WORK/input")

# run NAME COMMAND...: one timed run; appends "NAME seconds maxrss_kb".
run() {
    local name=$1; shift
    rm -f "$WORK/out"
    # Start each run with no dirty pages, so that what earlier steps wrote
    # is not written back (and throttled) during this one.
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>>"$WORK/tools.log"
    echo "$name $(cat "$WORK/time")" | tee -a "$OUT/envelope.raw"
}

UNSIGNED=AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED=AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
for _ in $(seq 1 "$ROUNDS"); do
    for suite in $UNSIGNED $SIGNED; do
        "$BIN" encrypt -q --key-id "$KEY" --algorithm $suite -i "$WORK/input" -o "$WORK/enc.trent"
        run "trent-encrypt-$suite" "$BIN" encrypt -q --key-id "$KEY" --algorithm $suite -i "$WORK/input" -o "$WORK/out"
        run "trent-decrypt-$suite" "$BIN" decrypt -q --key-id "$KEY" -i "$WORK/enc.trent" -o "$WORK/out"
        cmp -s "$WORK/out" "$WORK/input" || { echo "trent decrypt: wrong output" >&2; exit 1; }
        if [ "$OFFICIAL" = 1 ]; then
            run "official-encrypt-$suite" "$ESDK" -S -e -i "$WORK/input" -o "$WORK/out" \
                --wrapping-keys "key=$KEY" --algorithm $suite
            run "official-decrypt-$suite" "$ESDK" -S -d -i "$WORK/enc.trent" -o "$WORK/out" \
                --wrapping-keys "key=$KEY"
            cmp -s "$WORK/out" "$WORK/input" || { echo "official decrypt: wrong output" >&2; exit 1; }
        fi
    done
done

"$ROOT/.venv/bin/python" - "$OUT/envelope.raw" "$BYTES" "$OFFICIAL" <<'PY' | tee "$OUT/envelope.md"
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    name, secs, rss = line.split()
    runs[name].append((float(secs), int(rss)))
size = int(sys.argv[2])
print(f"1 file of {size / 2**20:.0f} MiB, median of {len(next(iter(runs.values())))} runs (MB/s = 10^6 bytes/s; peak = max RSS)\n")
print("| suite | operation | trent MB/s | trent peak MB | official CLI MB/s | official peak MB | trent / official |")
print("|---|---|---|---|---|---|---|")
for suite in ["AES_256_GCM_HKDF_SHA512_COMMIT_KEY", "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"]:
    for op in ["encrypt", "decrypt"]:
        def stats(tool):
            r = runs.get(f"{tool}-{op}-{suite}")
            if not r:
                return None, None
            secs = statistics.median(s for s, _ in r)
            return size / secs / 1e6, max(m for _, m in r) / 1024
        t, tm = stats("trent")
        o, om = stats("official")
        fmt = lambda v: "-" if v is None else f"{v:.0f}"
        ratio = "-" if o is None else f"{t / o:.1f}x"
        print(f"| {suite} | {op} | {t:.0f} | {tm:.0f} | {fmt(o)} | {fmt(om)} | {ratio} |")
PY
