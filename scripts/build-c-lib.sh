#!/usr/bin/env bash
# Builds the C libraries into <cargo's target directory>/c/lib (target/c/lib unless
# CARGO_TARGET_DIR or cargo's config says otherwise):
#   libipc.a                           (cargo's staticlib)
#   libipc.so.X.Y.Z, libipc.so.A, libipc.so   (A = ABI version, X.Y.Z = package version)
# The shared library is linked here from libipc.a rather than taken from cargo's cdylib: rustc
# gives the linker its own version script first, and GNU ld honours only the first one, so the
# cdylib cannot carry our symbol versions (LIBIPC_<ABI>, ffi-c/libipc.map). Linking the static
# library with our script alone exports exactly ipc_*, each versioned, and hides the rest.
. "$(dirname "$0")/lib.sh"
need_cmd "${CC:-cc}" "" "a C compiler is needed to link libipc.so (set CC)"
step "build libipc-ffi (release) and link the C libraries"
cargo build --release --quiet -p libipc-ffi
version=$(workspace_version)
abi=$(sed -n 's/^const ABI_MAJOR: u32 = \([0-9]*\);$/\1/p' ffi-c/build.rs)
[ -n "$version" ] && [ -n "$abi" ] || die "cannot read the version (Cargo.toml) or the ABI (ffi-c/build.rs)"
target=$(cargo_target_dir)
# The system libraries the Rust standard library needs, as rustc reports them.
native=$(cargo rustc --release --quiet -p libipc-ffi --lib --crate-type staticlib -- \
  --print native-static-libs 2>&1 | sed -n 's/.*native-static-libs: //p' | tail -1)
out="$target/c/lib"
mkdir -p "$out"
cp "$target/release/libipc.a" "$out/libipc.a"
# shellcheck disable=SC2086 # $native is a list of -l flags
${CC:-cc} -shared -o "$out/libipc.so.$version" \
  -Wl,--whole-archive "$target/release/libipc.a" -Wl,--no-whole-archive \
  -Wl,--version-script=ffi-c/libipc.map -Wl,-soname,"libipc.so.$abi" \
  -Wl,--gc-sections -Wl,-z,relro,-z,now $native
ln -sf "libipc.so.$version" "$out/libipc.so.$abi"
ln -sf "libipc.so.$abi" "$out/libipc.so"
printf '%s\n' "$native" > "$out/native-libs.txt"
echo "built $out: libipc.a, libipc.so.$version (SONAME libipc.so.$abi)"
