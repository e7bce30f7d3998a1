#!/bin/sh
# pg-server.sh - a throw-away PostgreSQL server for the tests.
#
#   tools/pg-server.sh start DIR     initdb a fresh cluster in DIR/data and
#                                    start it; prints its URL
#   tools/pg-server.sh stop [DIR]    stop it (fast shutdown); restart
#                                    starts it again
#   tools/pg-server.sh restart [DIR] stop it and start it again, same data
#   tools/pg-server.sh url [DIR]     print the URL of the server in DIR
#   tools/pg-server.sh run DIR -- COMMAND...
#                                    start, run COMMAND with
#                                    JOURNAL_TEST_BACKEND=pg,
#                                    JOURNAL_TEST_PG_URL and
#                                    JOURNAL_TEST_PG_DIR set, stop (also when
#                                    COMMAND fails); exits with COMMAND's
#                                    status
#
# DIR defaults to $JOURNAL_TEST_PG_DIR. The server listens on a Unix socket
# only (no TCP), in DIR or, when DIR's path is too long for a socket, in a
# directory under /tmp removed by stop. As root, initdb and the server run as the
# `postgres` user of the Debian package (initdb refuses root). `run` with
# JOURNAL_TEST_PG_URL already set uses that server and starts none.
#
# The cluster is tuned for tests, not for keeping data: fsync is off (a
# crash of the machine could lose it; a crash or kill of the server cannot).
# With JOURNAL_TEST_PG_FSYNC=on in the environment of start (or run), fsync
# and full_page_writes are on, as on a server that keeps data (for
# journal-bench --pg-shared's durable appends).
set -eu

die() { echo "pg-server.sh: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)

# The Debian binaries: /usr/lib/postgresql/VERSION/bin, newest version.
pg_bin() {
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    return 1
}

# Runs a command as the server's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

owner() { if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi; }

# The socket lives in DIR, or in a directory under /tmp when DIR's path is
# too long for a Unix socket (108 bytes with the socket's own name).
sock_of() { if [ -f "$1/socketdir" ]; then cat "$1/socketdir"; else echo "$1"; fi; }

url_of() { echo "postgresql:///postgres?host=$(sock_of "$1")&user=$(owner)"; }

start() {
    dir=$1
    case ${JOURNAL_TEST_PG_FSYNC:-off} in
    on | off) fsync=${JOURNAL_TEST_PG_FSYNC:-off} ;;
    *) die "JOURNAL_TEST_PG_FSYNC: '$JOURNAL_TEST_PG_FSYNC' is neither on nor off" ;;
    esac
    "$here/deps.sh" pg >&2 # stdout is the URL
    bin=$(pg_bin) || die "no PostgreSQL server in /usr/lib/postgresql"
    finish "$dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    sock=$dir
    if [ "${#dir}" -gt 90 ]; then
        sock=$(mktemp -d /tmp/journal-pg.XXXXXX)
        echo "$sock" >"$dir/socketdir"
    fi
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$dir" "$sock"
        as_owner test -x "$dir" || die "$dir: the postgres user cannot reach it (a parent is not traversable)"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U "$(owner)" -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$sock'
max_connections = 100
fsync = $fsync
full_page_writes = $fsync
EOF
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
        { cat "$dir/server.log" >&2; die "the server did not start"; }
    url_of "$dir"
}

stop_quiet() {
    dir=$1
    [ -f "$dir/data/postmaster.pid" ] || return 0
    bin=$(pg_bin) || return 0
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# Stops the server and removes its socket directory under /tmp, if any.
finish() {
    stop_quiet "$1"
    [ "$(sock_of "$1")" = "$1" ] || rm -rf "$(sock_of "$1")"
}

dir_arg() {
    d=${1:-${JOURNAL_TEST_PG_DIR:-}}
    [ -n "$d" ] || die "no DIR given and JOURNAL_TEST_PG_DIR is unset"
    (cd "$d" && pwd)
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start)
    [ $# -eq 1 ] || die "usage: pg-server.sh start DIR"
    start "$1"
    ;;
stop)
    stop_quiet "$(dir_arg "${1:-}")"
    ;;
restart)
    dir=$(dir_arg "${1:-}")
    bin=$(pg_bin) || die "no PostgreSQL server in /usr/lib/postgresql"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null ||
        { tail -n 20 "$dir/server.log" >&2; die "the server did not restart"; }
    ;;
url)
    url_of "$(dir_arg "${1:-}")"
    ;;
run)
    if [ $# -lt 3 ] || [ "$2" != "--" ]; then
        die "usage: pg-server.sh run DIR -- COMMAND..."
    fi
    dir=$1
    shift 2
    export JOURNAL_TEST_BACKEND=pg
    if [ -n "${JOURNAL_TEST_PG_URL:-}" ]; then
        "$@"
        exit $?
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    trap 'finish "$dir"' EXIT INT TERM
    JOURNAL_TEST_PG_URL=$(start "$dir")
    JOURNAL_TEST_PG_DIR=$dir
    export JOURNAL_TEST_PG_URL JOURNAL_TEST_PG_DIR
    echo "pg-server.sh: running the tests against $JOURNAL_TEST_PG_URL"
    status=0
    "$@" || status=$?
    exit $status
    ;;
*)
    die "usage: pg-server.sh start DIR | stop [DIR] | restart [DIR] | url [DIR] | run DIR -- COMMAND..."
    ;;
esac
