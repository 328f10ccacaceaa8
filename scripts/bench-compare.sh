#!/usr/bin/env bash
# The comparison bench (docs/performance.md): `ipc-compare` (bench/compare, package
# libipc-compare) measures libipc next to raw OS primitives and the peer IPC libraries, and
# here also with its C and Python round-trip rows: bench/c/ping.c through the C API and
# bench/python/ping.py through the Python package, both against the same echo peer.
#   scripts/bench-compare.sh [--quick] [--out DIR] [--load] ...
# Every argument goes to ipc-compare (`cargo run --release -p libipc-compare -- --help`).
# Builds libipc.so (scripts/build-c-lib.sh) and ping.c against it, and installs the Python
# package into the Python tests' virtual environment (<target dir>/python-venv, see
# scripts/python-tests.sh); the first build of ipc-compare compiles its peer libraries.
# The default run takes about 5 minutes, --quick about 1 (its numbers only show that every row
# works). Not a test: figures depend on the machine.
. "$(dirname "$0")/lib.sh"
need_cmd "${CC:-cc}" "" "a C compiler is needed to build bench/c/ping.c (set CC)"

step "build libipc.so and bench/c/ping.c"
./scripts/build-c-lib.sh >/dev/null
target=$(cargo_target_dir)
mktempdir tmp
# shellcheck disable=SC2154 # mktempdir (lib.sh) sets $tmp
ping="$tmp/ping"
${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -Iinclude bench/c/ping.c -o "$ping" \
  -L"$target/c/lib" -lipc -Wl,-rpath,"$target/c/lib"

python_venv
python_install_libipc

step "check bench/python/ping.py (no arguments: usage, status 2)"
rc=0
out=$("$vpy" bench/python/ping.py 2>&1) || rc=$?
[ "$rc" = 2 ] || die "'$vpy bench/python/ping.py' exited with $rc, not 2 (usage): $out"

step "ipc-compare, with the C and Python round-trip rows"
cargo run --release -p libipc-compare -- \
  --c-ping "$ping" --python "$vpy" --python-ping "$root/bench/python/ping.py" "$@"
