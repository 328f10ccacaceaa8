#!/usr/bin/env bash
# The Swift binding, compiled and run for real:
#   ./scripts/swift-tests.sh
#
# 1. the toolchain: Debian trixie's swiftlang in a debootstrap chroot, created once and cached
#    in ~/.cache/libipc (scripts/swift-chroot.sh; needs root);
# 2. the library and its generated Swift (scripts/uniffi-gen.sh);
# 3. swiftc (inside the chroot, the repository bind-mounted at the same path) compiles the
#    generated LibIpc.swift with bindings/swift/Sources and the test program
#    bindings/swift/Tests/main.swift against liblibipc_uniffi.so built on the host, and runs
#    it: in-process channels over unix:// and shm://, async receive with Task cancellation,
#    blocking calls cancelled through the core's handle, errors, and the Rust peer's interop
#    contract server (ipc-test-peer server, tests/interop/README.md) echoing, then killed by
#    interop:kill while a receive waits.
#
# LIBIPC_SKIP_SWIFT=1 skips all of it, and says so.
. "$(dirname "$0")/lib.sh"

if [ "${LIBIPC_SKIP_SWIFT:-0}" = 1 ]; then
  echo "swift-tests.sh: LIBIPC_SKIP_SWIFT=1: the Swift binding is NOT tested"
  exit 0
fi
need_cmd timeout "" "coreutils"

step "Swift toolchain: Debian trixie's swiftlang in a cached chroot (scripts/swift-chroot.sh ensure)"
./scripts/swift-chroot.sh ensure

step "the uniffi library and its generated Swift (scripts/uniffi-gen.sh)"
gen=$(./scripts/uniffi-gen.sh | sed -n 's/^swift=//p')
lib=$(./scripts/uniffi-gen.sh | sed -n 's/^lib=//p')
[ -n "$gen" ] && [ -n "$lib" ] || die "scripts/uniffi-gen.sh did not say where it wrote"
target=$(cargo_target_dir)
cargo build --release -p libipc-conformance --bin ipc-test-peer
export LIBIPC_RUST_PEER="$target/release/ipc-test-peer"

step "swiftc: the generated bindings, bindings/swift/Sources and the tests"
mktempdir tmp
export LIBIPC_TEST_DIR="$tmp"
export LIBIPC_RUNTIME_DIR="$tmp/run"
mkdir -m 0700 "$LIBIPC_RUNTIME_DIR"
binds=(--bind "$tmp")
case "$target" in "$root"/*) ;; *) binds+=(--bind "$target") ;; esac
./scripts/swift-chroot.sh run "${binds[@]}" -- swiftc -O -module-name LibIpcTests \
  -I "$gen" -Xcc -fmodule-map-file="$gen/LibIpcFFI.modulemap" \
  "$gen/LibIpc.swift" bindings/swift/Sources/*.swift bindings/swift/Tests/main.swift \
  -L "$lib" -llibipc_uniffi -Xlinker -rpath -Xlinker "$lib" -o "$tmp/swift-tests" ||
  die "swiftc could not compile the Swift binding and its tests"

step "the Swift tests (inside the chroot, with a Rust peer)"
timeout -k 10 300 ./scripts/swift-chroot.sh run "${binds[@]}" -- "$tmp/swift-tests" ||
  die "the Swift tests failed"
