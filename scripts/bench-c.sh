#!/usr/bin/env bash
# The C API's cost: round trips through the C API (bench/c/ping.c) beside the same round trips
# through the Rust API (`ipc ping`), against one `ipc listen --echo` peer, in one run.
#   scripts/bench-c.sh [COUNT]      (default 20000 round trips of 64 bytes per round)
# Prints a table of median p50/p99 round-trip times over 5 alternating rounds and the ratio
# C / Rust. The target (issue 4) is a ratio within 1.1x. Not a test: figures depend on the machine.
. "$(dirname "$0")/lib.sh"
count=${1:-20000}
rounds=5
step "build ipc, libipc.so and bench/c/ping.c"
cargo build --release --quiet -p libipc-cli
./scripts/build-c-lib.sh >/dev/null
target=$(cargo_target_dir)
mktempdir tmp
${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -Iinclude bench/c/ping.c -o "$tmp/ping" \
  -L"$target/c/lib" -lipc -Wl,-rpath,"$target/c/lib"
export LIBIPC_RUNTIME_DIR="$tmp/run"
mkdir -m 0700 "$LIBIPC_RUNTIME_DIR"
ipc="$target/release/ipc"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { sed -n "s/.* $1 \([0-9.]*\).*/\1/p"; }

step "measure: C and Rust round trips, $rounds alternating rounds"
printf '| transport | API | p50 µs | p99 µs | C / Rust (p50) |\n|---|---|---|---|---|\n'
for ep in "unix://$tmp/bench.sock" "shm://bench"; do
  case $ep in
    unix://*) sock=${ep#unix://} ;;
    shm://*) sock="$LIBIPC_RUNTIME_DIR/${ep#shm://}.shm.sock" ;;
  esac
  start_peer --socket "$sock" "$tmp/server.log" "$ipc" listen --echo "$ep"
  "$ipc" ping -n 2000 "$ep" >/dev/null; "$tmp/ping" "$ep" 2000 64 >/dev/null   # warm-up
  : > "$tmp/rust"; : > "$tmp/c"
  for _ in $(seq $rounds); do
    "$ipc" ping -n "$count" "$ep" | grep '^count' >> "$tmp/rust"
    "$tmp/ping" "$ep" "$count" 64 >> "$tmp/c"
  done
  stop_peer "$peer_pid"
  r50=$(field p50 < "$tmp/rust" | median); r99=$(field p99 < "$tmp/rust" | median)
  c50=$(field p50 < "$tmp/c" | median); c99=$(field p99 < "$tmp/c" | median)
  ratio=$(awk -v c="$c50" -v r="$r50" 'BEGIN {printf "%.2fx", c / r}')
  name=${ep%%:*}
  printf '| %s | Rust (`ipc ping`) | %s | %s | |\n' "$name" "$r50" "$r99"
  printf '| %s | C (`bench/c/ping.c`) | %s | %s | %s |\n' "$name" "$c50" "$c99" "$ratio"
done
