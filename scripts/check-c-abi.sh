#!/usr/bin/env bash
# Guards the C ABI (docs/c-api.md, "ABI stability"):
#   1. include/ipc.h is exactly what the pinned cbindgen generates from ffi-c/src
#      (`cargo xtask c-header --check`; the version is pinned in xtask/Cargo.toml);
#   2. libipc.so has the SONAME libipc.so.<ABI> and exports exactly the header's functions,
#      each with the version node LIBIPC_<ABI>, and nothing else;
#   3. every function, enum value, struct and macro listed in ffi-c/abi.txt is still there,
#      unchanged, unless IPC_ABI_VERSION changed; new ones must be added to the list.
# Usage: scripts/check-c-abi.sh [--fix]
#   --fix rewrites include/ipc.h and adds new entries to ffi-c/abi.txt; it refuses to record a
#   changed or removed entry unless IPC_ABI_VERSION was bumped (then it rewrites the list).
. "$(dirname "$0")/lib.sh"
fix=0; [ "${1:-}" = "--fix" ] && fix=1
need_cmd readelf binutils
need_cmd nm binutils
need_cmd python3 python3

step "header: include/ipc.h is what the pinned cbindgen generates (cargo xtask c-header)"
if [ $fix = 1 ]; then
  cargo xtask c-header
else
  cargo xtask c-header --check || die "include/ipc.h is out of date: run scripts/check-c-abi.sh --fix and commit it"
fi

step "library: SONAME, exported symbols and their versions; ffi-c/abi.txt"
./scripts/build-c-lib.sh >/dev/null
so="$(cargo_target_dir)/c/lib/libipc.so"
abi=$(sed -n 's/^#define IPC_ABI_VERSION \([0-9]*\)$/\1/p' include/ipc.h)
[ -n "$abi" ] || die "IPC_ABI_VERSION not found in include/ipc.h"
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libipc.so.$abi" ] || die "SONAME is '$soname', expected libipc.so.$abi"
echo "library: SONAME $soname"

python3 - "$so" include/ipc.h ffi-c/abi.txt "$abi" "$fix" <<'PY'
import re, subprocess, sys
so, header, listing, abi, fix = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1"
def fail(msg):
    sys.exit(f"check-c-abi: {msg}")

text = open(header).read()
code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
code = re.sub(r"//[^\n]*", "", code)
entries = {}
# Functions: 'ret name(params);' possibly over several lines.
for m in re.finditer(r"^([A-Za-z][^;{}#()]*?\b(ipc_\w+)\s*\([^;]*?\));", code, flags=re.M | re.S):
    entries["fn " + m.group(2)] = " ".join(m.group(1).split())
for m in re.finditer(r"typedef enum (\w+) \{(.*?)\}", code, flags=re.S):
    for v in re.finditer(r"(\w+)\s*=\s*(-?\d+)", m.group(2)):
        entries["enum " + v.group(1)] = f"{m.group(1)}::{v.group(1)} = {v.group(2)}"
for m in re.finditer(r"typedef struct (\w+) \{(.*?)\}", code, flags=re.S):
    fields = " ".join(" ".join(m.group(2).split()).split(";"))
    entries["struct " + m.group(1)] = f"struct {m.group(1)} {{ {' '.join(fields.split())} }}"
for m in re.finditer(r"^#define (IPC_\w+) (.+)$", code, flags=re.M):
    entries["define " + m.group(1)] = f"#define {m.group(1)} {m.group(2).strip()}"
fns = {k[3:] for k in entries if k.startswith("fn ")}
if not fns:
    fail("no functions found in the header")

# Exported dynamic symbols, with their versions.
out = subprocess.run(["nm", "-D", "--defined-only", so], check=True, capture_output=True, text=True).stdout
exported = {}
for line in out.splitlines():
    parts = line.split()
    if len(parts) < 3:
        continue
    kind, name = parts[1], parts[2]
    base, sep, version = name.partition("@@")  # '@@' = the default version of a symbol
    if not sep:
        base, version = name.partition("@")[0], ""
    if kind == "A" and base == f"LIBIPC_{abi}":
        continue
    exported[base] = (kind, version)
extra = sorted(set(exported) - fns)
missing = sorted(fns - set(exported))
if extra:
    fail(f"libipc.so exports symbols that are not in the header: {extra}")
if missing:
    fail(f"functions in the header are not exported by libipc.so: {missing}")
wrong = sorted(n for n, (_, v) in exported.items() if v != f"LIBIPC_{abi}")
if wrong:
    fail(f"symbols without the version node LIBIPC_{abi}: {wrong}")
print(f"symbols: {len(fns)} functions exported, all versioned LIBIPC_{abi}, nothing else exported")

lines = [f"# The C ABI of libipc, ABI version {abi}: generated from include/ipc.h by",
         "# scripts/check-c-abi.sh --fix. Entries may be added; while the ABI version stays the same,",
         "# none may change or disappear."]
current = {k: v for k, v in entries.items() if not k.startswith("define IPC_VERSION")}
body = [f"{k}\t{v}" for k, v in sorted(current.items())]
def write_listing():
    open(listing, "w").write("\n".join(lines + [f"abi\t{abi}"] + body) + "\n")
    print(f"abi: wrote {listing}")
try:
    old_lines = [l for l in open(listing).read().splitlines() if l and not l.startswith("#")]
except FileNotFoundError:
    if fix:
        write_listing()
        sys.exit(0)
    fail(f"{listing} is missing: run scripts/check-c-abi.sh --fix and commit it")
old = {}
for l in old_lines:
    if "\t" not in l:
        fail(f"malformed line in {listing}: {l!r}")
    k, v = l.split("\t", 1)
    old[k] = v
old_abi = old.pop("abi", None)
problems = []
if old_abi == abi:
    for k, v in sorted(old.items()):
        if k not in current:
            problems.append(f"{k} disappeared (was: {v})")
        elif current[k] != v:
            problems.append(f"{k} changed:\n    was: {v}\n    now: {current[k]}")
    if problems:
        fail("ABI broken without bumping IPC_ABI_VERSION (and the SONAME/version node):\n  "
             + "\n  ".join(problems))
added = sorted(k for k in current if k not in old)
if fix and (added or old_abi != abi):
    write_listing()  # only additions, or a new ABI version: both allowed
    sys.exit(0)
if added or old_abi != abi:
    fail(f"the ABI listing is out of date (new: {added}, listed ABI {old_abi}, now {abi}): "
         "run scripts/check-c-abi.sh --fix and commit ffi-c/abi.txt")
print(f"abi: {len(current)} entries match ffi-c/abi.txt (ABI {abi})")
PY
