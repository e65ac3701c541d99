#!/usr/bin/env bash
# The PostgreSQL store beside the embedded SQLite one, in one run, ROUNDS
# times in turns: Encrypt 1 KiB at 64 connections (served from the cache on
# both), CreateKey at 64 connections (a durable write each: SQLite's fsync
# against PostgreSQL's commit), then, on PostgreSQL only, the time from
# DisableKey on one node to refusal of Encrypt on a second node (median,
# 90th percentile and maximum over 100 tries). PostgreSQL runs on this
# machine, on loopback, with its durable defaults (fsync and synchronous
# commit on), so both stores pay for durability on the same disk.
# Results: stdout and bench/results/<time>/summary.md.
#
# Knobs: DURATION (seconds per run, default 10), ROUNDS (default 3), PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

bash scripts/pg.sh install >/dev/null
PG_HOME=$(mktemp -d /tmp/trent-bench-pg.XXXXXX)
chmod 755 "$PG_HOME"
PG_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PG_URL=$(bash scripts/pg.sh new "$PG_HOME/db" "$PG_PORT")
B_PID=""
trap 'cleanup; [ -n "$B_PID" ] && kill "$B_PID" 2>/dev/null; bash scripts/pg.sh down "$PG_HOME/db"; rm -rf "$PG_HOME"' EXIT

cp "$WORK/trent.toml" "$WORK/sqlite.toml"
for node in a b; do
    cp "$WORK/trent.toml" "$WORK/postgres-$node.toml"
    printf '\n[store]\nbackend = "postgres"\nurl = "%s"\npool_size = 16\n[audit]\nnode = "node-%s"\n' "$PG_URL" "$node" >> "$WORK/postgres-$node.toml"
done

echo "== Trent $(git rev-parse --short HEAD), $(nproc) cores, ${DURATION}s per run, x$ROUNDS, $("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/postgres" --version)" | tee "$OUT/summary.md"
: > "$OUT/rows.tsv"
for r in $(seq 1 "$ROUNDS"); do
    # Alternate which store goes first (the first run of a round tends to differ).
    if [ $((r % 2)) -eq 1 ]; then order="sqlite postgres"; else order="postgres sqlite"; fi
    for store in $order; do
        rm -rf "$WORK/data"
        if [ "$store" = postgres ]; then CONFIG="$WORK/postgres-a.toml"; else CONFIG="$WORK/sqlite.toml"; fi
        CONFIG=$CONFIG start_trent
        "$PY" "$GEN" setup --endpoint "$URL" --out "$WORK/state.json"
        for op in encrypt create-key; do
            "$PY" "$GEN" static --host "$HOST" --state "$WORK/state.json" --op "$op" --key key --blob blob --region us-east-1 > "$WORK/$op.lua"
            run_wrk "$op-$store" 64 "$WORK/$op.lua"
        done
        stop_server
    done
done

# Two nodes on the database: DisableKey on A, Encrypt refused on B.
rm -rf "$WORK/data" "$WORK/data-b"
CONFIG="$WORK/postgres-a.toml" start_trent
B_PORT=$((PORT + 1))
TRENT_LOG=warn "$BIN" serve --config "$WORK/postgres-b.toml" --listen "127.0.0.1:$B_PORT" --data-dir "$WORK/data-b" 2>>"$OUT/server-b.log" &
B_PID=$!
for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$B_PORT") 2>/dev/null && break; sleep 0.05; done
PROPAGATION=$("$PY" bench/propagation.py "$URL" "http://127.0.0.1:$B_PORT/" 100)
kill "$B_PID"; wait "$B_PID" 2>/dev/null || true; B_PID=""
stop_server

"$PY" - "$OUT/rows.tsv" "$PROPAGATION" >> "$OUT/summary.md" <<'PYEOF'
import json, statistics, sys
sys.path.insert(0, "bench")
from rows import load, print_table
runs = load(sys.argv[1])
print_table(runs)
for op in ("encrypt", "create-key"):
    ratios = [p[0] / s[0] for p, s in zip(runs[f"{op}-postgres"], runs[f"{op}-sqlite"])]
    print(f"\n{op}: PostgreSQL / SQLite per round: {', '.join(f'{x:.3f}' for x in ratios)} (median {statistics.median(ratios):.3f})")
p = json.loads(sys.argv[2])
print(f"\nDisableKey on node A to Encrypt refused on node B, {p['tries']} tries: median {p['median_ms']} ms, p90 {p['p90_ms']} ms, max {p['max_ms']} ms")
PYEOF
cat "$OUT/summary.md"
