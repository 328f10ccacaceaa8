#!/usr/bin/env bash
# A Swift toolchain for Linux hosts that have none: Debian trixie's `swiftlang` package (Swift 6)
# in a chroot made with `debootstrap --variant=minbase trixie`, created once and cached outside
# the repository.
#
#   ./scripts/swift-chroot.sh ensure
#       create the chroot if it is missing or incomplete (~2 min, ~580 MB download, 2.6 GB on
#       disk), install swiftlang in it, then print `swiftc --version`. The chroot counts as
#       complete only once its stamp file is written, so an interrupted creation is redone.
#   ./scripts/swift-chroot.sh run [--bind DIR]... -- CMD [ARGS...]
#       run CMD inside the chroot, in the current directory, and exit with its status. Visible
#       inside, at the same absolute paths: the repository, /tmp, $TMPDIR, $XDG_RUNTIME_DIR and
#       $LIBIPC_RUNTIME_DIR (when set and existing) and every --bind DIR (e.g. a cargo target
#       directory outside the repository); also /proc, /sys and /dev (with /dev/pts and /dev/shm).
#       So a library built on the host runs inside, and sockets and shared memory are shared
#       with host processes. The current directory must be one of those (or below one).
#
# The mounts live in a private mount namespace (`unshare --mount --propagation private`): they
# vanish with the last process of the command, whatever way it ends, never show on the host, and
# concurrent runs do not see each other's. The environment is passed through, except PATH, which
# is the chroot's standard one (/usr/local/sbin:...:/bin; the host's entries mean nothing there).
#
# Needs root (debootstrap, chroot, mount), util-linux (unshare, flock) and, to create the chroot,
# debootstrap (installed with apt-get when missing) and network access to a Debian mirror: the
# one the host's apt sources name (/etc/apt/sources.list*), else http://deb.debian.org/debian.
# Environment: LIBIPC_CACHE (default ~/.cache/libipc; the chroot is $LIBIPC_CACHE/swift-trixie),
# LIBIPC_DEBIAN_MIRROR (overrides the mirror).
orig_pwd=$PWD
. "$(dirname "$0")/lib.sh"

cache=${LIBIPC_CACHE:-$HOME/.cache/libipc}
case $cache in /*) ;; *) die "LIBIPC_CACHE must be an absolute path, got '$cache'" ;; esac
chroot_dir=$cache/swift-trixie
stamp=$chroot_dir/.libipc-swift-chroot
# Bump when the recipe below changes: existing chroots are then recreated.
recipe="swiftlang on debian trixie minbase, recipe 1"
packages=(swiftlang libc6-dev)
std_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

usage() {
  die "usage: $lib_script ensure | run [--bind DIR]... -- CMD [ARGS...]"
}

need_root() {
  [ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mounts); run it as root or with sudo"
}

complete() {
  [ "$(head -n1 "$stamp" 2>/dev/null)" = "$recipe" ]
}

# The Debian archive the host's apt uses (deb.debian.org here), for the trixie suite.
debian_mirror() {
  if [ -n "${LIBIPC_DEBIAN_MIRROR:-}" ]; then
    printf '%s\n' "${LIBIPC_DEBIAN_MIRROR%/}"
    return
  fi
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | sed 's/#.*//' |
    grep -oE '(https?|ftp)://[^][:space:]]+/debian/?([[:space:]]|$)' | head -n1 | tr -d '[:space:]') || true
  printf '%s\n' "${url:-http://deb.debian.org/debian}" | sed 's:/$::'
}

# Die when something is mounted at or below $1 (an rm -rf there would reach into it).
no_mounts_below() {
  local dir=$1 mnt
  while read -r _ _ _ _ mnt _; do
    mnt=$(printf '%b' "$mnt")  # mountinfo escapes spaces etc. as \040
    case $mnt in "$dir" | "$dir"/*) die "$mnt is mounted inside $dir; unmount it first" ;; esac
  done < /proc/self/mountinfo
}

# Mount DIR (a host directory) at the same path inside the chroot. Every component of that path
# inside the chroot must be a real directory: a symlink there would resolve against the host.
bind_into_chroot() {
  local dir=$1 path="" part
  local IFS=/
  for part in ${dir#/}; do
    path=$path/$part
    [ ! -L "$chroot_dir$path" ] ||
      die "cannot bind $dir: $path is a symlink inside the chroot (bind the directory it points to)"
  done
  mkdir -p "$chroot_dir$dir"
  mount --rbind "$dir" "$chroot_dir$dir"
}

# Runs inside the private mount namespace: mount, then become CMD (same pid, same status).
inner() {
  local cwd=$1 n=$2; shift 2
  local binds=("${@:1:n}"); shift "$n"
  mount -t proc proc "$chroot_dir/proc"
  mount --rbind /sys "$chroot_dir/sys"
  mount --rbind /dev "$chroot_dir/dev"
  local dir
  for dir in "${binds[@]}"; do bind_into_chroot "$dir"; done
  export LIBIPC_SCRIPT_DEPTH=$lib_depth PATH=$std_path
  trap - EXIT ERR INT TERM
  exec chroot "$chroot_dir" /usr/bin/env --chdir="$cwd" -- "$@"
}

run() {
  local binds=("$root" /tmp) dir var resolved
  while [ $# -gt 0 ]; do
    case $1 in
      --bind)
        [ $# -ge 2 ] || usage
        binds+=("$2"); shift 2 ;;
      --) shift; break ;;
      *) usage ;;
    esac
  done
  [ $# -gt 0 ] || usage
  need_root
  complete || die "no Swift chroot at $chroot_dir yet: run $0 ensure"
  for var in TMPDIR XDG_RUNTIME_DIR LIBIPC_RUNTIME_DIR; do
    [ -z "${!var:-}" ] || [ ! -d "${!var}" ] || binds+=("${!var}")
  done
  local real=()
  for dir in "${binds[@]}"; do
    [ -d "$dir" ] || die "--bind $dir: not a directory"
    resolved=$(realpath -e -- "$dir") || die "--bind $dir: cannot resolve it"
    [ "$resolved" != / ] || die "--bind /: binding the whole host defeats the chroot"
    real+=("$resolved")
  done
  # Parents before children (a later bind of a parent would hide a child), no duplicates.
  mapfile -t real < <(printf '%s\n' "${real[@]}" | awk '{ print length($0) "\t" $0 }' |
    sort -n -k1,1 -s | cut -f2- | awk '!seen[$0]++')
  local cwd visible=0
  cwd=$(realpath -e -- "$orig_pwd")
  for dir in "${real[@]}"; do
    case $cwd in "$dir" | "$dir"/*) visible=1 ;; esac
  done
  [ "$visible" = 1 ] ||
    die "the current directory $cwd is not visible in the chroot: run from the repository or /tmp, or pass --bind DIR for a directory holding it"
  need_cmd unshare "" "util-linux"
  need_cmd chroot "" "coreutils"
  trap - EXIT ERR INT TERM
  exec unshare --mount --propagation private -- \
    bash "$root/scripts/$lib_script" __inner "$cwd" "${#real[@]}" "${real[@]}" "$@"
}

# The same, for ensure's own steps: as root in the chroot, no extra binds, status returned.
in_chroot() {
  (cd / && unshare --mount --propagation private -- \
    bash "$root/scripts/$lib_script" __inner / 0 "$@")
}

ensure() {
  need_root
  need_cmd unshare "" "util-linux"
  need_cmd flock "" "util-linux"
  need_cmd chroot "" "coreutils"
  unshare --mount --propagation private true ||
    die "cannot create a private mount namespace (unshare --mount needs CAP_SYS_ADMIN)"
  mkdir -p "$cache"
  # One creator at a time; a second `ensure` waits, then finds the chroot complete.
  exec 9> "$cache/swift-trixie.lock"
  flock 9
  if ! complete; then
    need_cmd debootstrap debootstrap
    local mirror started=$SECONDS
    mirror=$(debian_mirror)
    if [ -e "$chroot_dir" ]; then
      step "remove the incomplete chroot $chroot_dir"
      no_mounts_below "$chroot_dir"
      rm -rf --one-file-system -- "$chroot_dir"
    fi
    step "debootstrap --variant=minbase trixie $chroot_dir ($mirror)"
    # In a private mount namespace too: the /proc and /sys debootstrap mounts into the target
    # go away with it even when it is interrupted.
    unshare --mount --propagation private -- \
      debootstrap --variant=minbase trixie "$chroot_dir" "$mirror" > "$cache/swift-trixie.log" 2>&1 ||
      { tail -n 30 "$cache/swift-trixie.log" >&2; die "debootstrap failed (log: $cache/swift-trixie.log)"; }
    step "apt-get install ${packages[*]} (in the chroot)"
    in_chroot env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    in_chroot env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${packages[@]}" >> "$cache/swift-trixie.log" 2>&1 ||
      { tail -n 30 "$cache/swift-trixie.log" >&2; die "apt-get install ${packages[*]} failed in the chroot (log: $cache/swift-trixie.log)"; }
    in_chroot apt-get clean
    in_chroot swiftc --version > /dev/null 2>&1 || die "swiftc does not run in the new chroot"
    printf '%s\n' "$recipe" > "$stamp"
    echo "created $chroot_dir in $((SECONDS - started)) s ($(du -sh --one-file-system "$chroot_dir" | cut -f1))"
  fi
  exec 9>&-
  in_chroot swiftc --version
}

case ${1:-} in
  ensure) [ $# = 1 ] || usage; ensure ;;
  run) shift; run "$@" ;;
  __inner) shift; inner "$@" ;;
  *) usage ;;
esac
