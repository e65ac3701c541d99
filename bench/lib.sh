# Shared by bench/run.sh and bench/asymmetric.sh: the machine set-up, a
# release build, the server's configuration and the helpers that start and
# stop it and run wrk. Source it from the repository root after setting
# DURATION, ROUNDS and PORT (defaults below).
ROOT=$PWD
DURATION=${DURATION:-10}
KEYS=${KEYS:-100000}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18480}
HOST="127.0.0.1:$PORT"
URL="http://$HOST/"
OUT="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
cargo build --release --locked
BIN="$ROOT/target/release/trent"
PY="$ROOT/.venv/bin/python"
GEN="$ROOT/bench/wrkgen.py"

cat > "$WORK/trent.toml" <<TOML
background_interval_secs = 10
[root_key]
file = "$WORK/root.key"
[[credentials]]
access_key_id = "AKIABENCH00000000001"
secret_access_key = "bench-secret-access-key"
account_id = "111122223333"
[[credentials]]
access_key_id = "AKIABENCHFLOODED0002"
secret_access_key = "the-flood-does-not-know-this"
account_id = "111122223333"
[[credentials]]
access_key_id = "AKIABENCHUSER0000001"
secret_access_key = "bench-user-secret"
account_id = "111122223333"
principal = "arn:aws:iam::111122223333:user/bench"
[[users]]
arn = "arn:aws:iam::111122223333:user/bench"
policies = ['''$(.venv/bin/python bench/wrkgen.py identity-policy)''']
TOML

wait_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "server did not start" >&2; exit 1
}
start_trent() { # [extra serve flags, e.g. --dev-tls]; CONFIG overrides the file
    TRENT_LOG=warn "$BIN" serve --config "${CONFIG:-$WORK/trent.toml}" --listen "$HOST" --data-dir "$WORK/data" "$@" 2>>"$OUT/server.log" &
    SERVER_PID=$!
    wait_port
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }
# The server's CPU time so far (user + system, clock ticks): the runs report
# CPU per request, which the VM's drift moves much less than requests/s.
server_cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

# wrk threads: one per connection up to two (the machine has two cores).
RUN_N=0
run_wrk() { # name conns script [url]
    local name=$1 conns=$2 script=$3 url=${4:-$URL} threads=1 file
    [ "$conns" -gt 1 ] && threads=2
    RUN_N=$((RUN_N + 1))
    file="$OUT/$(printf %02d "$RUN_N")-$name.txt"
    local before after
    before=$(server_cpu_ticks)
    wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency -s "$script" "$url" > "$file"
    after=$(server_cpu_ticks)
    if grep -qE "Non-2xx|Socket errors" "$file"; then
        echo "FAILED: $name had errors:"; cat "$file"; exit 1
    fi
    "$PY" - "$file" "$name" "$conns" "$((after - before))" "$(getconf CLK_TCK)" >> "$OUT/rows.tsv" <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
cpu_us = int(sys.argv[4]) / int(sys.argv[5]) / total * 1e6
def ms(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{rps:.0f}\t{ms(50):.2f}\t{ms(99):.2f}\t{cpu_us:.1f}")
PYEOF
    tail -1 "$OUT/rows.tsv"
}

