#!/usr/bin/env bash
# Builds the uniffi library (bindings/uniffi, liblibipc_uniffi.so) and generates its Kotlin and
# Swift bindings from it (library mode) with the pinned in-workspace uniffi-bindgen:
#   ./scripts/uniffi-gen.sh            -> <target>/uniffi/{kotlin,swift}, the library in
#                                         <target>/release
# The generated sources are build outputs, never committed: made from the library they go
# with, they cannot drift from it. Prints the two directories' paths (kotlin=..., swift=...).
. "$(dirname "$0")/lib.sh"

target=$(cargo_target_dir)
cargo build --release -p libipc-uniffi -p uniffi-bindgen
lib="$target/release/liblibipc_uniffi.so"
[ -f "$lib" ] || die "cargo did not build $lib"
out="$target/uniffi"
rm -rf "$out"
for lang in kotlin swift; do
  "$target/release/uniffi-bindgen" generate --library "$lib" --language "$lang" \
    --out-dir "$out/$lang" --no-format ||
    die "uniffi-bindgen could not generate the $lang bindings"
done
[ -f "$out/kotlin/dev/libipc/libipc.kt" ] || die "no Kotlin bindings in $out/kotlin"
[ -f "$out/swift/LibIpc.swift" ] || die "no Swift bindings in $out/swift"
echo "kotlin=$out/kotlin"
echo "swift=$out/swift"
echo "lib=$target/release"
