#!/usr/bin/env bash
# Run every test of Trent on a fresh machine: install the test tools
# (Python packages, PostgreSQL), check formatting and lints, build once
# (release), run the Rust tests (against a PostgreSQL started here on
# loopback, stopped at exit) and the black-box tests that drive the release
# binary with boto3 and the AWS CLI (the multi-node ones start their own
# PostgreSQL clusters through scripts/pg.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step "test tools: Python venv with boto3, awscli, pytest, aws-encryption-sdk-cli (tests/requirements.txt)"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt

step "PostgreSQL from the Debian packages (scripts/pg.sh install)"
bash scripts/pg.sh install

step "cargo fmt --check"
cargo fmt --all --check

step "build (release, once)"
cargo build --release --locked

step "cargo clippy -D warnings"
cargo clippy --release --locked --all-targets -- -D warnings

step "PostgreSQL for the Rust tests, on loopback"
PG_DIR=$(mktemp -d /tmp/trent-test-pg.XXXXXX)
trap 'bash scripts/pg.sh down "$PG_DIR"; rm -rf "$PG_DIR"' EXIT
PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TRENT_TEST_PG_URL=$(bash scripts/pg.sh new "$PG_DIR" "$PG_PORT" fast)
export TRENT_TEST_PG_URL
echo "$TRENT_TEST_PG_URL"

step "Rust tests (unit, vectors, store conformance on memory, SQLite and PostgreSQL)"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --release --locked --no-fail-fast
else
    cargo test --release --locked --no-fail-fast
fi

step "black-box tests: release binary + boto3 + AWS CLI"
TRENT_BIN="$PWD/target/release/trent" .venv/bin/python -m pytest tests -q -p no:cacheprovider

step "all tests passed"
