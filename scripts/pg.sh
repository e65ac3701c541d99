#!/usr/bin/env bash
# PostgreSQL for Trent's tests and benchmarks, on loopback, from the Debian
# packages. Used by scripts/test.sh, bench/postgres.sh and the multi-node
# tests (tests/test_cluster.py).
#
#   scripts/pg.sh install                   install the server if missing
#   scripts/pg.sh new DIR PORT [fast]       a new cluster in DIR serving
#                                           127.0.0.1:PORT, user and password
#                                           "trent", database "trent"; prints
#                                           its URL. "fast": fsync off (tests
#                                           that never crash the machine; never
#                                           for figures)
#   scripts/pg.sh up DIR                    start it again
#   scripts/pg.sh down DIR [fast|immediate] stop it ("immediate": as a crash)
#   scripts/pg.sh standby PRIMARY_PORT DIR PORT
#                                           a hot standby of the server on
#                                           PRIMARY_PORT, streaming from it
#   scripts/pg.sh sync PORT                 make the server on PORT wait for
#                                           its standby at every commit
#   scripts/pg.sh promote DIR               make a standby the primary
#   scripts/pg.sh sql PORT STATEMENT...     run statements as user trent;
#                                           prints the rows, unaligned
#
# Servers run as the `postgres` system user (initdb refuses root). Every
# step has a timeout: a password prompt or a server that does not come up
# fails instead of hanging.
set -euo pipefail

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_pg() { runuser -u postgres -- "$@"; }
export PGPASSWORD=trent PGCONNECT_TIMEOUT=10

settings() { # DIR PORT: where a server listens, kept in its own configuration
    cat >>"$1/data/postgresql.auto.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $2
unix_socket_directories = '$1'
max_connections = 300
wal_level = replica
max_wal_senders = 4
hot_standby = on
CONF
}

case "${1:-}" in
install)
    if [ -z "$(pgbin)" ] || [ ! -x "$(pgbin)/initdb" ]; then
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null
    fi
    echo "PostgreSQL: $("$(pgbin)/postgres" --version)"
    ;;
new)
    dir=$2 port=$3 mode=${4:-}
    rm -rf "$dir" && mkdir -p "$dir"
    echo trent >"$dir/pw"
    chown -R postgres:postgres "$dir"
    as_pg "$(pgbin)/initdb" -D "$dir/data" -U trent --pwfile="$dir/pw" -A scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
    settings "$dir" "$port"
    if [ "$mode" = fast ]; then
        printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >>"$dir/data/postgresql.auto.conf"
    fi
    timeout 60 runuser -u postgres -- "$(pgbin)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null
    timeout 30 "$(pgbin)/createdb" -w -h 127.0.0.1 -p "$port" -U trent trent
    echo "postgres://trent:trent@127.0.0.1:$port/trent"
    ;;
up)
    timeout 60 runuser -u postgres -- "$(pgbin)/pg_ctl" -D "$2/data" -l "$2/server.log" -w -t 30 start >/dev/null
    ;;
down)
    if [ -f "$2/data/postmaster.pid" ]; then
        timeout 60 runuser -u postgres -- "$(pgbin)/pg_ctl" -D "$2/data" -m "${3:-fast}" -w stop >/dev/null || true
    fi
    ;;
standby)
    primary_port=$2 dir=$3 port=$4
    rm -rf "$dir" && mkdir -p "$dir" && chown postgres:postgres "$dir"
    # --checkpoint=fast: the default spread checkpoint made the copy take
    # about 90 s here.
    timeout 120 runuser -u postgres -- env PGPASSWORD=trent "$(pgbin)/pg_basebackup" -w \
        -h 127.0.0.1 -p "$primary_port" -U trent -D "$dir/data" -X stream -R --checkpoint=fast >/dev/null
    # The primary's own listening settings came with the copy: these win.
    settings "$dir" "$port"
    echo "primary_conninfo = 'host=127.0.0.1 port=$primary_port user=trent password=trent application_name=standby'" \
        >>"$dir/data/postgresql.auto.conf"
    timeout 60 runuser -u postgres -- "$(pgbin)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start >/dev/null
    ;;
sync)
    timeout 30 "$(pgbin)/psql" -w -q -h 127.0.0.1 -p "$2" -U trent -d trent \
        -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null
    ;;
promote)
    timeout 60 runuser -u postgres -- "$(pgbin)/pg_ctl" -D "$2/data" -w -t 30 promote >/dev/null
    ;;
sql)
    port=$2
    shift 2
    args=()
    for s in "$@"; do args+=(-c "$s"); done
    timeout 30 "$(pgbin)/psql" -w -q -At -h 127.0.0.1 -p "$port" -U trent -d trent "${args[@]}"
    ;;
*)
    echo "usage: $0 install | new DIR PORT [fast] | up DIR | down DIR [fast|immediate] | standby PRIMARY_PORT DIR PORT | sync PORT | promote DIR | sql PORT STATEMENT..." >&2
    exit 2
    ;;
esac
