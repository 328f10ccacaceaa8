#!/usr/bin/env bash
# Builds the Swift peer of the interop matrix (bindings/swift/Interop/main.swift; the contract:
# tests/interop/README.md) and prints, as its LAST line on stdout, the command that starts it
# inside the Swift chroot, as a JSON array:
#   ["<repo>/scripts/swift-chroot.sh", "run", [--bind DIR,]... "--", "<cargo target>/interop/swift/peer"]
# Everything else goes to stderr.
#
#   ./scripts/interop/swift.sh
#
# Like scripts/swift-tests.sh: the chroot (scripts/swift-chroot.sh ensure), the library and its
# generated Swift (scripts/uniffi-gen.sh, unless both LIBIPC_SWIFT_GENERATED and LIBIPC_LIB_DIR
# are set), then swiftc inside the chroot compiles the generated LibIpc.swift,
# bindings/swift/Sources and Interop/main.swift into <cargo target>/interop/swift/peer, linked
# to liblibipc_uniffi.so (rpath). It is recompiled only when an input changed.
#
# The command's binds make visible inside the chroot what the peer needs at the same paths: the
# repository and /tmp always, $LIBIPC_RUNTIME_DIR when set at run time (swift-chroot.sh does
# both), and the cargo target directory and the library's directory when they are outside the
# repository (the runner's runtime directory is under <cargo target>/interop/). stdin, stdout,
# stderr, signals and the exit status pass through (swift-chroot.sh execs down to the peer: same
# pid). Run the command from the repository or /tmp (the current directory must be visible).
# LIBIPC_SKIP_SWIFT=1 builds nothing, says so on stderr and prints `null`.
. "$(dirname "$0")/../lib.sh"

if [ "${LIBIPC_SKIP_SWIFT:-0}" = 1 ]; then
  echo "interop/swift.sh: SKIPPED (LIBIPC_SKIP_SWIFT=1): no Swift peer, the interop matrix runs without Swift" >&2
  echo null
  exit 0
fi

# stdout is for the last line only: the chatter (steps, cargo, swiftc) goes to stderr.
exec 3>&1 1>&2
need_cmd python3 "" "python3 writes the JSON line"

step "Swift toolchain: Debian trixie's swiftlang in a cached chroot (scripts/swift-chroot.sh ensure)"
./scripts/swift-chroot.sh ensure

step "the uniffi library and its generated Swift"
uniffi_outputs swift "${LIBIPC_SWIFT_GENERATED:-}"
gen=$uniffi_gen
lib=$uniffi_lib
[ -f "$gen/LibIpc.swift" ] || die "no LibIpc.swift in '$gen'"

target=$(cargo_target_dir)
out="$target/interop/swift"
peer="$out/peer"
stamp="$out/inputs.sha256"
mkdir -p "$out"

# Directories outside the repository that the peer needs inside the chroot.
binds=()
for dir in "$target" "$lib" "$gen"; do
  case $dir in "$root" | "$root"/*) ;; *) binds+=(--bind "$dir") ;; esac
done

inputs=$(
  sha256sum "$gen"/LibIpc.swift "$gen"/LibIpcFFI.h "$gen"/LibIpcFFI.modulemap \
    bindings/swift/Sources/*.swift bindings/swift/Interop/main.swift
  echo "lib $lib"
)
build_peer() {
  step "swiftc: the generated bindings, bindings/swift/Sources and Interop/main.swift -> $peer"
  ./scripts/swift-chroot.sh run "${binds[@]}" -- swiftc -O -module-name LibIpcInterop \
    -I "$gen" -Xcc -fmodule-map-file="$gen/LibIpcFFI.modulemap" \
    "$gen/LibIpc.swift" bindings/swift/Sources/*.swift bindings/swift/Interop/main.swift \
    -L "$lib" -llibipc_uniffi -Xlinker -rpath -Xlinker "$lib" -o "$peer.tmp" ||
    die "swiftc could not compile the Swift peer"
  mv -f "$peer.tmp" "$peer"
}
rebuild_when_changed "$stamp" "$inputs" "Swift peer ($peer)" build_peer "$peer"

echo "Swift peer: $peer (inside the chroot, through scripts/swift-chroot.sh run)"
python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \
  "$root/scripts/swift-chroot.sh" run "${binds[@]}" -- "$peer" >&3
