# shellcheck shell=bash
# The helpers every scripts/*.sh shares. Sourced, never run:
#   . "$(dirname "$0")/lib.sh"
# Sourcing it sets `set -Eeuo pipefail`, moves to the repository root ($root) and installs the
# EXIT/ERR/INT/TERM traps. What it gives:
#
#   step NAME...               print a step header and remember NAME: when the script fails,
#                              its last line is "FAILED step: NAME"
#   die MESSAGE...             fail loudly with MESSAGE
#   need_cmd CMD [PKG] [HINT]  CMD must be on PATH; if missing and PKG is given, install the
#                              Debian package PKG (apt_install), else die (with HINT)
#   apt_install PKG...         install Debian packages with apt-get (needs root), or die
#   mktempdir VAR [NAME]       set VAR to a new temporary directory, removed at exit
#                              (KEEP_TMP=1 keeps it and says where)
#   start_peer [--socket PATH] LOG CMD...
#                              start CMD in the background (output to LOG), pid in $peer_pid;
#                              with --socket, wait until PATH is a socket. Killed at exit.
#   wait_for_socket PATH PID   wait (30 s at most) for the socket file PATH while PID lives
#   wait_for_line FILE PID [REGEX]   print FILE's first line matching REGEX once it is there
#   stop_peer PID              SIGTERM, then SIGKILL after 10 s; its exit status in $stopped_rc
#   stop_peers                 stop every peer still running (done at exit)
#   workspace_version          [workspace.package] version from Cargo.toml
#   cargo_target_dir           cargo's target directory (honours CARGO_TARGET_DIR and config)
#   uniffi_outputs LANG [GENERATED]
#                              the uniffi library and LANG's (kotlin, swift) generated bindings:
#                              GENERATED and $LIBIPC_LIB_DIR when both are set, else what
#                              scripts/uniffi-gen.sh writes; checks both are there and sets
#                              $uniffi_gen and $uniffi_lib (absolute directories)
#   rebuild_when_changed STAMP INPUTS LABEL BUILD OUTPUT...
#                              run BUILD (a command or function) unless the file STAMP holds
#                              exactly INPUTS (text that changes when an input does: checksums,
#                              versions) and every OUTPUT is a non-empty file ("LABEL: up to
#                              date"); STAMP is removed before BUILD and written after it
#   python_venv                the Python package's virtual environment (scripts/python-tests.sh's):
#                              $PYTHON (default python3) must be >= 3.11 with the venv module
#                              (installed with apt-get when root); creates <target dir>/python-venv,
#                              or reuses it unless that Python changed; sets $venv and $vpy (its
#                              python). Installs nothing into it
#   python_install_libipc      pip install ./bindings/python into $vpy (maturin through PEP 517,
#                              build isolation) and check that `import libipc` works

set -Eeuo pipefail

lib_script=$(basename "$0")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Nested scripts (test.sh runs the others) mark their steps differently.
lib_depth=${LIBIPC_SCRIPT_DEPTH:-0}
export LIBIPC_SCRIPT_DEPTH=$((lib_depth + 1))

lib_step=""
lib_died=0
lib_failed_cmd=""
lib_failed_where=""
lib_peers=()
lib_tmpdirs=()

step() {
  lib_step="$*"
  if [ "$lib_depth" = 0 ]; then printf '\n==> %s\n' "$*"; else printf '\n--> %s\n' "$*"; fi
}

die() {
  printf '\n%s: %s\n' "$lib_script" "$*" >&2
  lib_died=1
  exit 1
}

apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
    die "missing: $* (install the Debian packages: apt-get install $*; this script installs them itself when run as root)"
  echo "$lib_script: installing $* with apt-get"
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } ||
    die "apt-get could not install $*"
}

need_cmd() {
  local cmd=$1 pkg=${2:-} hint=${3:-}
  command -v "$cmd" >/dev/null && return 0
  [ -z "$pkg" ] || apt_install "$pkg"
  command -v "$cmd" >/dev/null || die "$cmd not found${hint:+: $hint}"
}

mktempdir() {
  local dir
  dir=$(mktemp -d "${TMPDIR:-/tmp}/libipc-${2:-${lib_script%.sh}}.XXXXXX") || die "mktemp failed"
  lib_tmpdirs+=("$dir")
  printf -v "$1" '%s' "$dir"
}

wait_for_socket() {
  local path=$1 pid=$2 _
  for _ in $(seq 300); do
    [ -S "$path" ] && return 0
    kill -0 "$pid" 2>/dev/null || die "the process meant to listen at $path (pid $pid) exited"
    sleep 0.1
  done
  die "no socket at $path after 30 s"
}

wait_for_line() {
  local file=$1 pid=$2 regex=${3:-.} _ line
  for _ in $(seq 300); do
    line=$(grep -m1 -E -- "$regex" "$file" 2>/dev/null) && { printf '%s\n' "$line"; return 0; }
    kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; die "the process writing $file (pid $pid) exited"; }
    sleep 0.1
  done
  cat "$file" >&2
  die "no line matching '$regex' in $file after 30 s"
}

start_peer() {
  local socket=""
  if [ "$1" = --socket ]; then socket=$2; shift 2; fi
  local log=$1; shift
  "$@" > "$log" 2>&1 &
  peer_pid=$!
  lib_peers+=("$peer_pid")
  [ -z "$socket" ] || wait_for_socket "$socket" "$peer_pid"
}

stop_peer() {
  local pid=$1 p _ keep=()
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  stopped_rc=0
  wait "$pid" 2>/dev/null || stopped_rc=$?
  for p in "${lib_peers[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  lib_peers=("${keep[@]}")
}

stop_peers() {
  local pid
  for pid in "${lib_peers[@]}"; do stop_peer "$pid"; done
}

workspace_version() {
  awk '
    /^\[/ { section = $0 }
    section == "[workspace.package]" && $1 == "version" {
      v = $0; sub(/^[^"]*"/, "", v); sub(/".*$/, "", v); print v; exit
    }' "$root/Cargo.toml"
}

cargo_target_dir() {
  local dir
  dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  [ -n "$dir" ] || die "cargo metadata did not report a target_directory"
  printf '%s\n' "$dir"
}

# (Functions that run the caller's code keep their locals under lib_ names: bash's locals are
# seen by the functions they call, and would hide the caller's variables.)
uniffi_outputs() {
  local lib_lang=$1 lib_gen_out
  uniffi_gen=${2:-}
  uniffi_lib=${LIBIPC_LIB_DIR:-}
  if [ -z "$uniffi_gen" ] || [ -z "$uniffi_lib" ]; then
    lib_gen_out=$("$root/scripts/uniffi-gen.sh") || die "scripts/uniffi-gen.sh failed"
    uniffi_gen=$(sed -n "s/^$lib_lang=//p" <<< "$lib_gen_out")
    uniffi_lib=$(sed -n 's/^lib=//p' <<< "$lib_gen_out")
  fi
  [ -d "$uniffi_gen" ] || die "the generated $lib_lang directory '$uniffi_gen' does not exist"
  [ -f "$uniffi_lib/liblibipc_uniffi.so" ] || die "no liblibipc_uniffi.so in '$uniffi_lib'"
  uniffi_gen=$(cd "$uniffi_gen" && pwd)
  uniffi_lib=$(cd "$uniffi_lib" && pwd)
}

rebuild_when_changed() {
  local lib_stamp=$1 lib_inputs=$2 lib_label=$3 lib_build=$4 lib_out lib_fresh=1
  shift 4
  [ -f "$lib_stamp" ] && [ "$(cat "$lib_stamp")" = "$lib_inputs" ] || lib_fresh=0
  for lib_out in "$@"; do [ -s "$lib_out" ] || lib_fresh=0; done
  if [ "$lib_fresh" = 1 ]; then
    step "$lib_label: up to date"
    return 0
  fi
  rm -f "$lib_stamp"
  "$lib_build"
  printf '%s\n' "$lib_inputs" > "$lib_stamp"
}

python_venv() {
  local py=${PYTHON:-python3} minor pyid
  need_cmd "$py" "" "install Python >= 3.11"
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
    die "$py is $("$py" -c 'import platform; print(platform.python_version())'); libipc needs Python >= 3.11"
  if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
    minor=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install python3-venv "python$minor-venv"
    "$py" -c 'import venv, ensurepip' 2>/dev/null ||
      die "the venv module of $py is missing (Debian/Ubuntu: apt-get install python3-venv)"
  fi
  need_cmd cargo "" "the package is built with Rust (https://rustup.rs)"
  venv="$(cargo_target_dir)/python-venv"
  step "virtual environment (target/python-venv)"
  pyid=$("$py" -c 'import sys; print(sys.version.split()[0], sys.implementation.name, sys.base_prefix)')
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.libipc-python" 2>/dev/null)" = "$pyid" ]; then
    echo "reusing $venv ($pyid)"
  else
    rm -rf "$venv"
    "$py" -m venv "$venv" || die "could not create a virtual environment with $py -m venv"
    echo "$pyid" > "$venv/.libipc-python"
    echo "created $venv ($pyid)"
  fi
  vpy="$venv/bin/python"
}

python_install_libipc() {
  step "pip install ./bindings/python (maturin, PEP 517)"
  [ -f "$root/bindings/python/pyproject.toml" ] || die "bindings/python/pyproject.toml is missing"
  "$vpy" -m pip install --disable-pip-version-check --force-reinstall --no-deps "$root/bindings/python" ||
    die "pip install ./bindings/python failed"
  (cd /tmp && "$vpy" -c 'import libipc, libipc.aio; print("libipc", libipc.__version__, "from", libipc.__file__)') ||
    die "the installed package does not import"
}

lib_on_err() {
  lib_failed_cmd=$1
  lib_failed_where="$lib_script line $2"
}

lib_on_exit() {
  local rc=$? dir
  set +e
  stop_peers
  for dir in "${lib_tmpdirs[@]}"; do
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "$lib_script: kept $dir"; else rm -rf "$dir"; fi
  done
  if [ "$rc" != 0 ]; then
    if [ "$lib_died" = 0 ] && [ -n "$lib_failed_cmd" ]; then
      printf '\n%s: `%s` failed (status %s) at %s\n' "$lib_script" "$lib_failed_cmd" "$rc" "$lib_failed_where" >&2
    fi
    printf 'FAILED step: %s\n' "${lib_step:-(before the first step of $lib_script)}" >&2
  fi
  exit "$rc"
}

trap 'lib_on_err "$BASH_COMMAND" "$LINENO"' ERR
trap lib_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
