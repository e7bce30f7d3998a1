#!/bin/sh
# deps.sh - install the Debian packages libjournal needs, only when missing.
#
#   tools/deps.sh [build|libpq|test|bench|pg|fuzz]...
#
# Each word names a set of dependencies: build (compiler, make, pkg-config,
# LMDB), libpq (libpq's headers, for the PostgreSQL backend), test
# (Criterion, python3, valgrind), bench (SQLite, gnuplot), pg (a PostgreSQL
# server, for the tests' second pass), fuzz (clang's libFuzzer). Only the
# Makefile's deps, demo, test, check, valgrind, bench, fault-all and fuzz
# targets run it; a plain make never does. A dependency is looked up first
# (pkg-config for libraries, the command for programs); only what is missing
# is installed, with apt-get, and the script says what it installs. Nothing
# is installed when everything is present, so it is cheap to run on every
# build.
set -eu

missing=""
need_pc() { pkg-config --exists "$1" 2>/dev/null || missing="$missing $2"; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need_file() { [ -e "$1" ] || missing="$missing $2"; }
need_glob() { for f in $1; do [ -e "$f" ] && return 0; done; missing="$missing $2"; }

need_cmd pkg-config pkg-config
for set in "${@:-build}"; do
    case "$set" in
    build) need_cmd cc gcc; need_cmd make make; need_pc lmdb liblmdb-dev ;;
    libpq) need_pc libpq libpq-dev ;;
    test) need_pc criterion libcriterion-dev; need_cmd python3 python3
          need_cmd valgrind valgrind; need_pc sqlite3 libsqlite3-dev ;;
    bench) need_pc sqlite3 libsqlite3-dev; need_cmd gnuplot gnuplot-nox ;;
    pg) need_pc libpq libpq-dev; need_file /usr/lib/postgresql postgresql ;;
    fuzz) need_cmd clang clang
          need_glob "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a" libclang-rt-dev ;;
    *) echo "deps.sh: unknown set '$set'" >&2; exit 2 ;;
    esac
done
# pkg-config itself may be missing, which makes every need_pc fail: dedupe.
missing=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
[ -n "${missing% }" ] || exit 0

echo "deps.sh: installing missing Debian packages:$missing" | sed 's/  */ /g'
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# An apt-get update is needed on a fresh machine whose package lists are
# empty; skip it when lists exist, unless the install then fails.
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    $SUDO apt-get update -q
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing ||
    { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends $missing; }
