#!/usr/bin/env bash
# The cross-language interop matrix and the wire conformance check:
#   ./scripts/interop-tests.sh [run.py options, e.g. --clients rust,python --transports unix]
#
# 1. builds every language's interop peer (scripts/interop/<language>.sh; each prints the command
#    that starts its peer, as a JSON array, on its last line, or null when that language is
#    skipped by its opt-out variable: LIBIPC_SKIP_KOTLIN=1, LIBIPC_SKIP_SWIFT=1);
# 2. checks the wire format with an independent pure-Python implementation written from
#    docs/wire-format.md (tests/interop/wire/check.py): every vector in tests/vectors/, and live
#    exchanges with the Rust peer over unix:// and tcp://, both as client and as server;
# 3. runs the matrix (tests/interop/run.py): every client language x server language x
#    transport x case of the contract in tests/interop/README.md, several pairs at a time. The
#    table is printed and written to <cargo target dir>/interop/matrix/interop.{md,json}.
#
# The Python and Node peers need the package built and installed first (scripts/python-tests.sh
# and scripts/node-tests.sh, which scripts/test.sh runs before this).
. "$(dirname "$0")/lib.sh"

need_cmd python3 python3
target=$(cargo_target_dir)
out="$target/interop"
mkdir -p "$out"

step "interop peers: build each language's peer (scripts/interop/<language>.sh)"
peers_json="$out/peers.json"
entries=()
skipped=()
for lang in rust c python node kotlin swift; do
  echo "--- $lang"
  argv=$("./scripts/interop/$lang.sh" | tail -n 1) || die "scripts/interop/$lang.sh failed"
  case $lang in
    kotlin) skip_var=LIBIPC_SKIP_KOTLIN ;;
    swift) skip_var=LIBIPC_SKIP_SWIFT ;;
    *) skip_var="" ;;
  esac
  if [ "$argv" = null ]; then
    [ -n "$skip_var" ] && [ "${!skip_var:-0}" = 1 ] ||
      die "scripts/interop/$lang.sh printed null, but nothing asked to skip $lang"
    echo "interop-tests.sh: $skip_var=1: $lang is NOT in the interop matrix"
    skipped+=("\"$lang\": \"$skip_var=1\"")
  else
    case $argv in \[*\]) ;; *) die "scripts/interop/$lang.sh did not end with a JSON array: $argv" ;; esac
    echo "$lang peer: $argv"
  fi
  entries+=("\"$lang\": $argv")
done
{
  printf '{"peers": {%s},\n "skipped": {%s}}\n' "$(IFS=,; echo "${entries[*]}")" "$(IFS=,; echo "${skipped[*]}")"
} > "$peers_json"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$peers_json" ||
  die "$peers_json is not valid JSON"

step "wire conformance: an independent Python implementation of docs/wire-format.md (tests/interop/wire/check.py)"
rust_peer=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["peers"]["rust"][0])' "$peers_json")
timeout -k 10 300 python3 tests/interop/wire/check.py --peer "$rust_peer" ||
  die "the independent wire implementation disagrees with libipc or with the vectors"

step "interop matrix: client x server x transport x case (tests/interop/run.py)"
timeout -k 10 1500 python3 tests/interop/run.py --peers "$peers_json" --out "$out/matrix" "$@" ||
  die "the interop matrix has failed or unsupported cells (table above; $out/matrix/interop.md)"
