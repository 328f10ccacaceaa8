#!/usr/bin/env bash
# The Windows build, tested for real under Wine:
#   ./scripts/windows-tests.sh          lints, tests, and a pipe-bench smoke run
#   ./scripts/windows-tests.sh bench    the same set-up, then a full pipe-bench run only
# Cross-compiles the core and the tests crate for x86_64-pc-windows-gnu (clippy included) and
# runs their tests under Wine: the core's unit tests (named pipes, their security descriptor
# read back from the system, the squatting guard, busy pipes), the conformance suite and the
# protocol-abuse tests over pipe:// and bare names, with the test peer as real Windows
# processes. What Wine does not enforce is asserted as Wine does it and documented in
# docs/endpoints.md (section "Windows"). Then it smoke-runs the named-pipe bench (`pipe-bench
# --quick`: libipc's pipes next to a raw named pipe, bench/pipe) under Wine; its numbers are
# not checked, it must finish. `bench` runs the full bench instead of all that (~30 s); under
# Wine its numbers measure Wine's emulation of named pipes (wineserver), not Windows.
#
# Needs the rustup target, mingw-w64 (Debian: gcc-mingw-w64-x86-64) and Wine (Debian: wine,
# wine64): installed here when missing (apt-get when run as root), else the script fails.
# LIBIPC_SKIP_WINDOWS=1 skips it all, and says so.
#
# Debian 12's Wine 8 lacks ProcessPrng (bcryptprimitives.dll), which Rust's std imports: the
# shim in scripts/windows/ (ProcessPrng over BCryptGenRandom) is built with mingw and put in
# the Wine prefix. The prefix and the shim are cached in ~/.cache/libipc (XDG_CACHE_HOME).
. "$(dirname "$0")/lib.sh"

target=x86_64-pc-windows-gnu
mode=${1:-test}
case "$mode" in
  test | bench) ;;
  *) die "usage: $0 [bench] (no argument: lints, tests and a bench smoke run)" ;;
esac

if [ "${LIBIPC_SKIP_WINDOWS:-0}" = 1 ]; then
  echo "windows-tests.sh: SKIPPED (LIBIPC_SKIP_WINDOWS=1): the Windows build and its tests under Wine did not run"
  exit 0
fi

step "Windows toolchain: rustup target $target, mingw-w64, Wine"
command -v rustup >/dev/null || die "rustup not found: it installs the $target target (or set LIBIPC_SKIP_WINDOWS=1)"
rustup target list --installed | grep -qx "$target" ||
  rustup target add "$target" || die "could not add the rustup target $target (or set LIBIPC_SKIP_WINDOWS=1)"
need_cmd x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64 "install mingw-w64, or set LIBIPC_SKIP_WINDOWS=1"
if ! command -v wine >/dev/null; then
  apt_install wine wine64
fi
command -v wine >/dev/null || die "wine not found: install Wine (Debian: wine wine64), or set LIBIPC_SKIP_WINDOWS=1"
wine --version

step "Wine prefix and the ProcessPrng shim (cached in ~/.cache/libipc)"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/libipc
mkdir -p "$cache/shim"
export WINEPREFIX="$cache/wine" WINEDEBUG=-all WINEARCH=win64
# Our shim first; no Mono or Gecko installers while the prefix is made.
export WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree,mshtml="
shim="$cache/shim/bcryptprimitives.dll"
src=scripts/windows/bcryptprimitives.c
def=scripts/windows/bcryptprimitives.def
stamp=$(cat "$src" "$def" | sha256sum | cut -d' ' -f1)
if [ ! -f "$shim" ] || [ "$(cat "$shim.sha256" 2>/dev/null)" != "$stamp" ]; then
  x86_64-w64-mingw32-gcc -O2 -shared -o "$shim" "$src" "$def" -lbcrypt ||
    die "building the ProcessPrng shim failed"
  echo "$stamp" > "$shim.sha256"
fi
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "creating the Wine prefix $WINEPREFIX (once)"
  wineboot -i >/dev/null 2>&1 || die "wineboot -i failed for $WINEPREFIX"
  wineserver -w
fi
sys32="$WINEPREFIX/drive_c/windows/system32"
[ -d "$sys32" ] || die "no system32 in $WINEPREFIX: remove it and run again"
cmp -s "$shim" "$sys32/bcryptprimitives.dll" || cp "$shim" "$sys32/bcryptprimitives.dll"
# cargo runs every test binary under Wine.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine

if [ "$mode" = bench ]; then
  step "Windows bench under Wine: pipe-bench (the numbers measure Wine's emulation, not Windows)"
  cargo run -p libipc-pipe-bench --target "$target" --release -- || die "pipe-bench failed under Wine"
  exit 0
fi

step "Windows lints: cargo clippy --target $target (core, tests crate, pipe-bench and its bench library)"
cargo clippy -p libipc -p libipc-conformance -p libipc-pipe-bench -p libipc-bench-common --target "$target" --all-targets --release -- -D warnings

step "Windows tests under Wine: core unit tests (pipes, security), conformance and protocol abuse over named pipes"
cargo test -p libipc -p libipc-conformance --target "$target" --release

step "Windows bench smoke run under Wine: pipe-bench --quick (the numbers are not checked)"
cargo run -p libipc-pipe-bench --target "$target" --release -- --quick ||
  die "pipe-bench --quick failed under Wine"
echo "full numbers: ./scripts/windows-tests.sh bench (under Wine they measure Wine's emulation, not Windows)"

step "Windows tests passed"
