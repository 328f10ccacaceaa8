#!/usr/bin/env bash
# The Node peer of the interop matrix (tests/interop/README.md): bindings/node/test/peer.mjs over
# the package in bindings/node. When the package has no built addon (index.js and a .node file),
# builds it with `npm ci` there (its install script runs the napi-rs build; scripts/node-tests.sh
# does the same, and more).
#
# Everything goes to stderr except the last line on stdout: the command that starts the peer,
# as a JSON array of absolute paths (the runner appends `server ...` / `client ...`).
. "$(dirname "$0")/../lib.sh"
exec 3>&1 1>&2
step "the Node interop peer (bindings/node/test/peer.mjs)"

need_cmd node "" "install Node.js >= 20.15 (https://nodejs.org)"
node -e 'process.exit(typeof require("node:zlib").crc32 === "function" ? 0 : 1)' ||
  die "node $(node --version) has no zlib.crc32, which the peer's random-10k case needs: install Node.js >= 20.15"
pkg="$root/bindings/node"
peer="$pkg/test/peer.mjs"
[ -f "$peer" ] || die "$peer is missing"
if [ ! -f "$pkg/index.js" ] || ! compgen -G "$pkg/*.node" >/dev/null; then
  need_cmd npm "" "npm comes with Node.js"
  need_cmd cargo "" "the addon is built with Rust (https://rustup.rs)"
  echo "node.sh: no built addon in bindings/node: npm ci there (builds it)"
  (cd "$pkg" && npm ci --no-audit --no-fund) || die "npm ci in bindings/node failed"
fi
node -e 'const ipc = require(process.argv[1]);
  if (typeof ipc.listen !== "function") throw new Error("libipc.listen is missing");' "$pkg" ||
  die "the package in bindings/node does not load (run ./scripts/node-tests.sh, or npm ci in bindings/node)"
echo "node peer: node $(node --version), $peer"

node -e 'console.log(JSON.stringify(process.argv.slice(1)))' "$(node -p process.execPath)" "$peer" >&3
