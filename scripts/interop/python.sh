#!/usr/bin/env bash
# The Python peer of the interop matrix (tests/interop/README.md): bindings/python/tests/helper.py,
# run by the virtual environment scripts/python-tests.sh creates (<cargo target dir>/python-venv,
# with the libipc package installed). Builds nothing: that environment must exist, else this
# fails and says to run scripts/python-tests.sh first.
#
# Everything goes to stderr except the last line on stdout: the command that starts the peer,
# as a JSON array of absolute paths (the runner appends `server ...` / `client ...`).
. "$(dirname "$0")/../lib.sh"
exec 3>&1 1>&2
step "the Python interop peer (bindings/python/tests/helper.py)"

need_cmd cargo "" "the package is built with Rust (https://rustup.rs)"
target=$(cargo_target_dir)
vpy="$target/python-venv/bin/python"
helper="$root/bindings/python/tests/helper.py"
[ -f "$helper" ] || die "$helper is missing"
[ -x "$vpy" ] ||
  die "no Python virtual environment at $target/python-venv: run ./scripts/python-tests.sh first (it creates it and installs the libipc package)"
(cd / && "$vpy" -c 'import libipc; print("python peer: libipc", libipc.__version__, "from", libipc.__file__)') ||
  die "$vpy cannot import libipc: run ./scripts/python-tests.sh first (it installs the package into that environment)"

"$vpy" -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$vpy" -u "$helper" >&3
