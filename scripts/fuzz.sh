#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time and fails on any crash:
#   ./scripts/fuzz.sh                      # 30 s per target, two targets at a time
#   LIBIPC_FUZZ_SECONDS=300 ./scripts/fuzz.sh
#   LIBIPC_SKIP_FUZZ=1 ./scripts/fuzz.sh   # skips, and says so
# Installs what it needs: the nightly toolchain (rustup) and cargo-fuzz (cargo install). Each
# target starts from a scratch copy of its committed seeds (fuzz/corpus/<target>), under
# <target dir>/fuzz/run, so the committed corpus never grows. A crash prints the reproducer's
# path and the command that replays it. The last lines are a table of executions per target.
# Long campaigns, minimising and reproducing: docs/security.md, "Fuzzing".
. "$(dirname "$0")/lib.sh"

if [ "${LIBIPC_SKIP_FUZZ:-}" = 1 ]; then
  echo "fuzz.sh: SKIPPED because LIBIPC_SKIP_FUZZ=1: the fuzz targets were NOT run"
  exit 0
fi

seconds=${LIBIPC_FUZZ_SECONDS:-30}
case "$seconds" in '' | *[!0-9]* | 0) die "LIBIPC_FUZZ_SECONDS must be a positive number of seconds, not '$seconds'" ;; esac

step "fuzz: toolchain (nightly, cargo-fuzz)"
command -v rustup >/dev/null || die "rustup not found: cargo-fuzz needs a nightly toolchain (https://rustup.rs)"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing the nightly toolchain with rustup"
  rustup toolchain install nightly --profile minimal || die "could not install the nightly toolchain"
fi
rustup run nightly rustc --version
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz.sh: installing cargo-fuzz with cargo install"
  cargo install cargo-fuzz --locked || die "could not install cargo-fuzz"
fi
cargo fuzz --version

export CARGO_TARGET_DIR
CARGO_TARGET_DIR="$(cargo_target_dir)/fuzz"
mapfile -t targets < <(cargo +nightly fuzz list)
[ "${#targets[@]}" -gt 0 ] || die "cargo fuzz list found no targets in fuzz/"

step "fuzz: build ${#targets[@]} targets (libFuzzer, AddressSanitizer)"
cargo +nightly fuzz build

step "fuzz: run each target for $seconds s, two at a time"
bin_dir="$CARGO_TARGET_DIR/$(rustup run nightly rustc -vV | sed -n 's/^host: //p')/release"
run="$CARGO_TARGET_DIR/run"
rm -rf "$run"
mkdir -p "$run/tmp"

# One target: a scratch corpus seeded from the committed one; libFuzzer stops after $seconds
# (-timeout: one input running that long is a hang, reported like a crash).
fuzz_one() {
  local t=$1 dir="$run/$1"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp fuzz/corpus/"$t"/* "$dir/corpus/"
  TMPDIR="$run/tmp" LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp" timeout $((seconds + 300)) "$bin_dir/$t" \
    -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/" "$dir/corpus" > "$dir/log" 2>&1
}

pids=()
for t in "${targets[@]}"; do
  if [ "${#pids[@]}" -ge 2 ]; then
    wait -n || true
    live=()
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && live+=("$p"); done
    pids=("${live[@]}")
  fi
  echo "fuzzing $t"
  ( fuzz_one "$t"; echo $? > "$run/$t/rc" ) &
  pids+=($!)
done
wait

failed=()
printf '\n%-16s %14s %10s %8s %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  log="$run/$t/log" rc=$(cat "$run/$t/rc" 2>/dev/null || echo 1)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$run/$t/corpus" -type f | wc -l)
  result=ok
  if [ "$rc" != 0 ]; then result="FAILED (exit $rc)"; failed+=("$t"); fi
  printf '%-16s %14s %10s %8s %s\n' "$t" "${runs:-?}" "${speed:-?}" "$corpus" "$result"
done

for t in "${failed[@]}"; do
  printf '\n--- %s: last lines of %s\n' "$t" "$run/$t/log"
  tail -n 40 "$run/$t/log"
  for a in "$run/$t"/artifacts/*; do
    [ -e "$a" ] || continue
    echo "reproducer: $a"
    echo "  replay it:  (cd fuzz && LSAN_OPTIONS=suppressions=lsan.supp cargo +nightly fuzz run $t $a)"
    echo "  minimise:   (cd fuzz && cargo +nightly fuzz tmin $t $a)"
  done
done
[ "${#failed[@]}" = 0 ] || die "fuzz targets failed: ${failed[*]}"
echo "fuzz: ${#targets[@]} targets ran $seconds s each, no crash"
