#!/usr/bin/env bash
# The one command that runs every test of libipc, from a fresh clone:
#   ./scripts/test.sh
# It installs what it needs (rustfmt, clippy) and fails loudly when a toolchain is missing.
# Heavy downloads are cached outside the repository (cargo's own cache in ~/.cargo).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

step "toolchain"
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
if command -v rustup >/dev/null; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || die "could not install rustfmt/clippy with rustup"
fi
cargo --version

step "format and lints"
cargo fmt --all -- --check || die "code is not formatted: run cargo fmt --all"
cargo clippy --workspace --all-targets --release -- -D warnings

step "Rust tests (unit, doc, async, CLI, cross-process conformance, wire vectors)"
cargo test --workspace --release --all-targets
cargo test --workspace --release --doc

step "loom model of the shared-memory ring (ring.rs, loom_model)"
# Its own cfg and target directory: tokio has its own cfg(loom), and the main build cache stays.
RUSTFLAGS="--cfg libipc_loom" CARGO_TARGET_DIR="$root/target/loom" \
  cargo test -p libipc --lib --release loom_model

step "Rust examples, run end to end"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
cargo build --release -p libipc-examples --examples
ex="$root/target/release/examples"
ep="unix://$tmp/echo.sock"
"$ex/echo_server" "$ep" > "$tmp/server.out" &
for _ in $(seq 100); do [ -S "$tmp/echo.sock" ] && break; sleep 0.1; done
got=$(timeout 30 "$ex/client" "$ep" hello "two words")
[ "$got" = $'hello\ntwo words' ] || die "client example printed: $got"
got=$(timeout 30 "$ex/async_echo")
[ "$got" = $'one\ntwo\nthree' ] || die "async_echo example printed: $got"
echo "examples: ok"

step "C API: install, pkg-config and CMake builds, C tests under valgrind, examples, C <-> Rust"
./scripts/c-tests.sh

step "all tests passed"
