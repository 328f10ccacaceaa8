#!/usr/bin/env bash
# The C peer of the interop matrix (tests/interop/README.md): ipc_test_peer (tests/c/peer.c),
# linked to libipc.so the way a C user links it: the library is built and installed into
# <cargo target dir>/interop/c-prefix (scripts/install-c.sh), and tests/c is built with CMake
# (find_package(libipc)) into <cargo target dir>/interop/c-build. The peer finds libipc.so
# through the RPATH CMake gives it. Quick when everything is already built.
#
# Environment: CC (default cc).
# Everything goes to stderr except the last line on stdout: the command that starts the peer,
# as a JSON array of absolute paths (the runner appends `server ...` / `client ...`).
. "$(dirname "$0")/../lib.sh"
exec 3>&1 1>&2
step "the C interop peer (tests/c/peer.c, ipc_test_peer)"

need_cmd "${CC:-cc}" "" "a C compiler is needed (set CC)"
need_cmd cmake cmake
need_cmd python3 python3
target=$(cargo_target_dir)
prefix="$target/interop/c-prefix"
build="$target/interop/c-build"

./scripts/install-c.sh --prefix "$prefix"
cmake -S tests/c -B "$build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" > "$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; die "cmake configure of tests/c failed"; }
cmake --build "$build" --target ipc_test_peer -j 2 ||
  die "cmake build of ipc_test_peer failed"
peer="$build/ipc_test_peer"
[ -x "$peer" ] || die "$peer was not built"
grep -q "libipc_DIR:PATH=$prefix/lib/cmake/libipc" "$build/CMakeCache.txt" ||
  die "CMake did not use the libipc installed in $prefix"

python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$peer" >&3
