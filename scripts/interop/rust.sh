#!/usr/bin/env bash
# The Rust peer of the interop matrix (tests/interop/README.md): ipc-test-peer
# (tests/src/bin/peer.rs), built in release mode (quick when it is already built).
#
# Everything goes to stderr except the last line on stdout: the command that starts the peer,
# as a JSON array of absolute paths (the runner appends `server ...` / `client ...`).
. "$(dirname "$0")/../lib.sh"
exec 3>&1 1>&2
step "the Rust interop peer (ipc-test-peer)"

need_cmd cargo "" "install Rust with rustup (https://rustup.rs)"
need_cmd python3 python3
cargo build --release -p libipc-conformance --bin ipc-test-peer
peer="$(cargo_target_dir)/release/ipc-test-peer"
[ -x "$peer" ] || die "$peer was not built"

python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$peer" >&3
