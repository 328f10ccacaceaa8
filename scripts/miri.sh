#!/usr/bin/env bash
# Runs the pure-logic unit tests of the core under Miri (undefined behaviour, out-of-bounds
# and aliasing checks on the unsafe code they reach): the frame codec and the frame reader and
# writer (core/src/wire/) and the shared-memory ring's index arithmetic and validation over
# heap memory (core/src/shm/ring.rs, `tests`). Tests there that need system calls are
# `#[cfg_attr(miri, ignore)]`.
#   ./scripts/miri.sh
#   LIBIPC_SKIP_MIRI=1 ./scripts/miri.sh   # skips, and says so
# Installs the nightly toolchain and its miri and rust-src components with rustup if missing.
. "$(dirname "$0")/lib.sh"

if [ "${LIBIPC_SKIP_MIRI:-}" = 1 ]; then
  echo "miri.sh: SKIPPED because LIBIPC_SKIP_MIRI=1: the Miri tests were NOT run"
  exit 0
fi

step "miri: toolchain (nightly with miri)"
command -v rustup >/dev/null || die "rustup not found: Miri needs a nightly toolchain (https://rustup.rs)"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "miri.sh: installing the nightly toolchain with rustup"
  rustup toolchain install nightly --profile minimal || die "could not install the nightly toolchain"
fi
if ! rustup +nightly component list --installed | grep -q '^miri'; then
  echo "miri.sh: installing the miri component with rustup"
  rustup +nightly component add miri rust-src || die "could not install miri with rustup"
fi
cargo +nightly miri --version

step "miri: wire codec, frame reader and writer, shared-memory rings (cargo +nightly miri test)"
# Its own target directory (<target dir>/miri, chosen by cargo-miri), so the main build stays.
cargo +nightly miri setup
cargo +nightly miri test -p libipc --lib -- wire:: shm::ring::tests shm::fanout::tests
