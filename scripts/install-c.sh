#!/usr/bin/env bash
# Build the libipc C library (crate ffi-c, package libipc-ffi) in release mode and install it:
#
#   ./scripts/install-c.sh --prefix /usr/local [--no-build]
#
# installs (see docs/c-api.md, "Installing"):
#   PREFIX/include/ipc.h
#   PREFIX/lib/libipc.so.X.Y.Z, libipc.so.<ABI> -> libipc.so.X.Y.Z, libipc.so -> libipc.so.<ABI>
#   PREFIX/lib/libipc.a
#   PREFIX/lib/pkgconfig/ipc.pc
#   PREFIX/lib/cmake/libipc/libipcConfig.cmake, libipcConfigVersion.cmake
#   PREFIX/share/libipc/valgrind.supp (ffi-c/valgrind/libipc.supp: suppressions for valgrind)
#
# It builds with scripts/build-c-lib.sh (cargo build --release -p libipc-ffi, then libipc.so
# linked with the symbol versions); --no-build installs what <target dir>/c/lib already holds
# (cargo's target directory: target/, or CARGO_TARGET_DIR, or cargo's config).
# DESTDIR is honoured as usual for staged installs (the files still name PREFIX).
. "$(dirname "$0")/lib.sh"

usage() { printf 'usage: %s --prefix DIR [--no-build]\n' "$0" >&2; exit 2; }

prefix=""
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) usage ;;
    *) printf 'install-c.sh: unknown argument %s\n' "$1" >&2; usage ;;
  esac
done
[ -n "$prefix" ] || usage
case "$prefix" in
  /*) ;;
  *) mkdir -p "$prefix"; prefix=$(cd "$prefix" && pwd) ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || die "refusing to install into /"

# The version is the workspace's: [workspace.package] version in Cargo.toml.
version=$(workspace_version)
[[ "$version" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] ||
  die "could not read [workspace.package] version from Cargo.toml (got '$version')"
major=${BASH_REMATCH[1]}

need_cmd cargo "" "install Rust with rustup (https://rustup.rs)"
[ -f ffi-c/Cargo.toml ] || die "ffi-c/Cargo.toml not found: the C API crate is missing"
[ -f include/ipc.h ] || die "include/ipc.h not found: the generated header is missing"

[ -f scripts/build-c-lib.sh ] || die "scripts/build-c-lib.sh not found"

# The project's own build of the C libraries into <target dir>/c/lib: it runs
# `cargo build --release -p libipc-ffi`, links libipc.so from libipc.a with the symbol-version
# script (ffi-c/libipc.map, which cargo's cdylib cannot carry) and records the system libraries
# rustc reports for the static library (native-libs.txt).
step "build the C libraries (scripts/build-c-lib.sh)"
built="$(cargo_target_dir)/c/lib"
if [ "$build" = 1 ]; then
  echo "install-c.sh: scripts/build-c-lib.sh" >&2
  bash scripts/build-c-lib.sh >&2
fi
so="$built/libipc.so.$version"
a="$built/libipc.a"
[ -f "$so" ] || die "$so not found (build with: scripts/build-c-lib.sh)"
[ -f "$a" ] || die "$a not found (build with: scripts/build-c-lib.sh)"
native=""
[ -f "$built/native-libs.txt" ] && native=$(cat "$built/native-libs.txt")
if [ -z "$native" ]; then
  native="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
  echo "install-c.sh: using the usual native libraries for the static library: $native" >&2
fi
# Keep the order rustc gives, drop repeats.
native=$(printf '%s\n' $native | awk '!seen[$0]++' | tr '\n' ' ' | sed 's/ $//')

# The ABI version is the SONAME's number (libipc.so.<ABI>).
soname=""
if command -v readelf >/dev/null; then
  soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
elif command -v objdump >/dev/null; then
  soname=$(objdump -p "$so" | awk '$1 == "SONAME" { print $2 }')
fi
if [ -z "$soname" ]; then
  echo "install-c.sh: warning: could not read the SONAME of $so; assuming libipc.so.$major" >&2
  soname="libipc.so.$major"
fi
[[ "$soname" =~ ^libipc\.so\.([0-9]+)$ ]] || die "$so has SONAME '$soname', expected libipc.so.<ABI>"
abi=${BASH_REMATCH[1]}
hdr_abi=$(sed -n 's/^#define IPC_ABI_VERSION \([0-9]*\).*/\1/p' include/ipc.h)
[ -z "$hdr_abi" ] || [ "$hdr_abi" = "$abi" ] ||
  die "include/ipc.h says IPC_ABI_VERSION $hdr_abi but $so has SONAME $soname"
hdr_version=$(sed -n 's/^#define IPC_VERSION "\(.*\)".*/\1/p' include/ipc.h)
[ -z "$hdr_version" ] || [ "$hdr_version" = "$version" ] ||
  die "include/ipc.h says IPC_VERSION \"$hdr_version\" but Cargo.toml says $version"

sizeof_void_p=$(getconf LONG_BIT 2>/dev/null || echo 64)
sizeof_void_p=$((sizeof_void_p / 8))

step "install into ${DESTDIR:-}$prefix"
dest="${DESTDIR:-}$prefix"
libdir="$dest/lib"
install -d "$dest/include" "$libdir" "$libdir/pkgconfig" "$libdir/cmake/libipc"

install -m 0644 include/ipc.h "$dest/include/ipc.h"
install -m 0755 "$so" "$libdir/libipc.so.$version"
ln -sfn "libipc.so.$version" "$libdir/$soname"
ln -sfn "$soname" "$libdir/libipc.so"
install -m 0644 "$a" "$libdir/libipc.a"
install -d "$dest/share/libipc"
install -m 0644 ffi-c/valgrind/libipc.supp "$dest/share/libipc/valgrind.supp"

subst() { # template output
  # CMake wants a list of link items; "-lfoo" items are passed to the linker as they are.
  local cmake_native
  cmake_native=$(printf '%s' "$native" | tr ' ' ';')
  sed -e "s|@PREFIX@|$prefix|g" \
      -e "s|@VERSION@|$version|g" \
      -e "s|@VERSION_MAJOR@|$major|g" \
      -e "s|@ABI_VERSION@|$abi|g" \
      -e "s|@LIBS_PRIVATE@|$native|g" \
      -e "s|@CMAKE_NATIVE_LIBS@|$cmake_native|g" \
      -e "s|@SIZEOF_VOID_P@|$sizeof_void_p|g" \
      "$1" > "$2.tmp"
  if grep -n '@[A-Z_]*@' "$2.tmp" >&2; then
    rm -f "$2.tmp"
    die "unsubstituted placeholder in $1"
  fi
  chmod 0644 "$2.tmp"
  mv "$2.tmp" "$2"
}
subst ffi-c/pkg/ipc.pc.in "$libdir/pkgconfig/ipc.pc"
subst ffi-c/pkg/libipcConfig.cmake.in "$libdir/cmake/libipc/libipcConfig.cmake"
subst ffi-c/pkg/libipcConfigVersion.cmake.in "$libdir/cmake/libipc/libipcConfigVersion.cmake"

echo "install-c.sh: installed libipc $version (ABI $abi) into $dest"
