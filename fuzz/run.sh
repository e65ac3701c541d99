#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser the network reaches (cargo-fuzz,
# libFuzzer, AddressSanitizer). Each target starts from fuzz/corpus/<target>
# (the seeds the test suite replays) and keeps what it finds in
# fuzz/work/<target> (not committed). Crashes land in fuzz/artifacts/<target>.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET ...]   default: 180 s, every target
#   JOBS=2 fuzz/run.sh 600                          two targets at a time
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The sanitizer flags need a
# nightly toolchain; without one, RUSTC_BOOTSTRAP=1 makes stable accept them.
# Prints per target: executions, coverage (edges, features), corpus size, and
# whether it found a crash. Exit status 1 if any target did.
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${1:-180}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(operation blob sigv4 policy encryption_context sts_form lookup_events envelope_decrypt)
JOBS=${JOBS:-1}
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    CARGO="cargo +nightly fuzz"
else
    export RUSTC_BOOTSTRAP=1
    CARGO="cargo fuzz"
fi
mkdir -p work logs
$CARGO build --release || exit 1

run_one() {
    local t=$1 status=ok
    mkdir -p "work/$t"
    $CARGO run --release "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"logs/$t.log" 2>&1 || status="CRASH: see fuzz/logs/$t.log and fuzz/artifacts/$t"
    local execs cov ft corp
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "logs/$t.log" | grep -oE '[0-9]+$' || echo '?')
    cov=$(grep -oE 'cov: [0-9]+' "logs/$t.log" | tail -1 | grep -oE '[0-9]+' || echo '?')
    ft=$(grep -oE 'ft: [0-9]+' "logs/$t.log" | tail -1 | grep -oE '[0-9]+' || echo '?')
    corp=$(find "work/$t" -type f | wc -l)
    printf '%-20s %12s execs   cov %6s   ft %6s   corpus %6s   %s\n' "$t" "$execs" "$cov" "$ft" "$corp" "$status"
    [ "$status" = ok ]
}

failed=0
running=0
for t in "${TARGETS[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
exit $failed
