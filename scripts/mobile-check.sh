#!/usr/bin/env bash
# The uniffi crate (bindings/uniffi) for mobile targets: `cargo check` only, for Android
# (aarch64-linux-android) and an Apple target (aarch64-apple-ios, or x86_64-apple-darwin when
# the iOS standard library cannot be installed), each added with `rustup target add`:
#   ./scripts/mobile-check.sh
# Prints a table: target | rustup target add | cargo check.
#
# A target whose standard library cannot be installed is reported and is not fatal. A
# `cargo check` that fails for Android is fatal, unless its error is only about a missing
# linker, C compiler or SDK (cargo check links nothing, so it should not be). For Apple targets
# a failure is reported as KNOWN and is not fatal: the core's Unix layer (core/src/sys/unix) is
# written for Linux and has not been ported to Apple's (eventfd, epoll, memfd seals, pipe2,
# MSG_NOSIGNAL ...); docs/mobile.md says so. An Apple check that passes is reported as such.
# Nothing is built or run for these targets: no NDK or Xcode is needed or used here (see
# docs/mobile.md). Each target gets its own target directory, <target dir>/mobile/<triple>.
# LIBIPC_SKIP_MOBILE=1 skips it all, and says so.
. "$(dirname "$0")/lib.sh"

if [ "${LIBIPC_SKIP_MOBILE:-0}" = 1 ]; then
  echo "mobile-check.sh: SKIPPED (LIBIPC_SKIP_MOBILE=1): the uniffi crate was not checked for aarch64-linux-android or an Apple target"
  exit 0
fi

need_cmd cargo
base=$(cargo_target_dir)/mobile
mkdir -p "$base"

# Errors that come from a missing toolchain or SDK (a build script calling a C compiler or
# xcrun), not from the code.
toolchain_only='linker .* not found|failed to find tool|xcrun|xcode-select|SDKROOT|sdk.*not found|ANDROID_NDK|NDK'

targets=()
installed=()
checked=()
fatal=0

# rustup_add TRIPLE: install the target's standard library; records the result, true if it
# is there.
rustup_add() {
  local t=$1 log="$base/$1.rustup.log"
  targets+=("$t")
  if command -v rustup >/dev/null; then
    if rustup target add "$t" > "$log" 2>&1; then
      installed+=("ok")
      return 0
    fi
    installed+=("failed: $(grep -m1 -E 'error' "$log" || head -n1 "$log")")
  elif [ -d "$(rustc --print sysroot)/lib/rustlib/$t" ]; then
    installed+=("ok (no rustup; already in the sysroot)")
    return 0
  else
    installed+=("failed: no rustup, and not in the sysroot")
  fi
  checked+=("not run (target not installed)")
  return 1
}

# check TRIPLE: cargo check the uniffi crate for it, in its own target directory.
check() {
  local t=$1 log="$base/$1.check.log" first
  step "cargo check -p libipc-uniffi --target $t"
  if CARGO_TARGET_DIR="$base/$t" cargo check --release -p libipc-uniffi --target "$t" 2>&1 |
    tee "$log"; then
    checked+=("ok")
    return 0
  fi
  first=$(grep -m1 -E '^error' "$log" || tail -n1 "$log")
  if grep -qiE "$toolchain_only" "$log"; then
    checked+=("failed, toolchain/SDK only (not fatal): $first")
  elif [[ "$t" == *-apple-* ]]; then
    checked+=("KNOWN FAILURE, not fatal ($(grep -c '^error' "$log") errors: the core's Unix layer is not ported to Apple yet): $first")
  else
    checked+=("failed: $first")
    fatal=1
  fi
}

step "rustup target add aarch64-linux-android"
if rustup_add aarch64-linux-android; then check aarch64-linux-android; fi

step "rustup target add aarch64-apple-ios"
if rustup_add aarch64-apple-ios; then
  check aarch64-apple-ios
else
  step "rustup target add x86_64-apple-darwin (aarch64-apple-ios could not be installed)"
  if rustup_add x86_64-apple-darwin; then check x86_64-apple-darwin; fi
fi

step "results"
printf '%-24s | %-28s | %s\n' "target" "rustup target add" "cargo check"
printf '%-24s-+-%-28s-+-%s\n' "------------------------" "----------------------------" "-----------"
for i in "${!targets[@]}"; do
  printf '%-24s | %-28s | %s\n' "${targets[$i]}" "${installed[$i]}" "${checked[$i]}"
done
echo "(logs: $base/<target>.{rustup,check}.log)"

[ "$fatal" = 0 ] || die "libipc-uniffi does not compile for a mobile target (see the table and the log above)"
