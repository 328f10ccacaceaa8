#!/usr/bin/env bash
# The C API, tested from the outside, the way a C user gets it:
#   ./scripts/c-tests.sh
#
# 1. installs libipc into a temporary prefix with scripts/install-c.sh and checks the layout;
# 2. builds examples/c and tests/c against it with pkg-config, and again with CMake
#    (find_package(libipc), from a copy of the prefix moved elsewhere: the package is
#    relocatable); links the client statically against libipc.a both ways;
# 3. runs the C tests (tests/c) under valgrind memcheck: no errors, no definite, indirect or
#    possible leaks (LIBIPC_SKIP_VALGRIND=1 runs them without valgrind, and says so);
# 4. runs the C examples end to end (echo_server + client, static client, zero_copy);
# 5. cross-language: the C echo_server with the Rust client, the Rust echo_server with the C
#    client, over unix://, tcp:// and shm://; a Rust parent with a C child (Channel::spawn,
#    ipc_channel_from_env) and, in tests/c/test_spawn.c, a C parent with a Rust child;
# 6. smoke-runs the C-vs-Rust round-trip benchmark (scripts/bench-c.sh) with a few iterations.
#
# 7. the README's C quickstart, extracted from README.md and run exactly as written.
#
# Environment: CC (default cc), LIBIPC_SKIP_VALGRIND=1, KEEP_TMP=1 (keep the temporary directory).
# Everything runs under timeouts; background processes are killed and temporary files removed
# on exit (scripts/lib.sh).
. "$(dirname "$0")/lib.sh"

cc=${CC:-cc}
need_cmd "$cc" "" "a C compiler is needed (set CC)"
need_cmd pkg-config pkg-config
need_cmd cmake cmake
need_cmd timeout "" "coreutils"
need_cmd readelf binutils
valgrind=1
if [ "${LIBIPC_SKIP_VALGRIND:-0}" = 1 ]; then
  valgrind=0
  echo "c-tests.sh: LIBIPC_SKIP_VALGRIND=1: the C tests run WITHOUT valgrind"
else
  need_cmd valgrind valgrind "install it, or set LIBIPC_SKIP_VALGRIND=1 to run the C tests without it"
fi

mktempdir tmp
target=$(cargo_target_dir)

# Bare names and shm:// of the examples live in a private runtime directory.
export LIBIPC_RUNTIME_DIR="$tmp/run"
mkdir -m 0700 "$LIBIPC_RUNTIME_DIR"

version=$(workspace_version)
abi=$(sed -n 's/^#define IPC_ABI_VERSION \([0-9]*\).*/\1/p' include/ipc.h)
[ -n "$version" ] && [ -n "$abi" ] || die "cannot read the version (Cargo.toml) or IPC_ABI_VERSION (include/ipc.h)"

# ------------------------------------------------------------------------------------------------
step "install into a temporary prefix (scripts/install-c.sh)"
prefix="$tmp/prefix"
./scripts/install-c.sh --prefix "$prefix"
lib="$prefix/lib"
for f in include/ipc.h lib/libipc.so.$version lib/libipc.a lib/pkgconfig/ipc.pc \
         lib/cmake/libipc/libipcConfig.cmake lib/cmake/libipc/libipcConfigVersion.cmake \
         share/libipc/valgrind.supp; do
  [ -f "$prefix/$f" ] || die "install: $prefix/$f is missing"
done
[ "$(readlink "$lib/libipc.so.$abi")" = "libipc.so.$version" ] || die "install: libipc.so.$abi should point to libipc.so.$version"
[ "$(readlink "$lib/libipc.so")" = "libipc.so.$abi" ] || die "install: libipc.so should point to libipc.so.$abi"
soname=$(readelf -d "$lib/libipc.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "libipc.so.$abi" ] || die "install: SONAME is '$soname', expected libipc.so.$abi"
cmp -s include/ipc.h "$prefix/include/ipc.h" || die "install: the installed ipc.h differs from include/ipc.h"
export PKG_CONFIG_PATH="$lib/pkgconfig"
[ "$(pkg-config --modversion ipc)" = "$version" ] || die "pkg-config --modversion ipc is not $version"
pkg-config --static --libs ipc | grep -q -- '-lpthread' || die "pkg-config --static --libs ipc lacks the system libraries: $(pkg-config --static --libs ipc)"
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

# ------------------------------------------------------------------------------------------------
step "build examples/c and tests/c with pkg-config"
cflags=(-std=c11 -Wall -Wextra -Werror -g -O1)
pc="$tmp/pc"
mkdir -p "$pc"
read -r -a ipc_flags <<< "$(pkg-config --cflags --libs ipc)"
build_pc() { # out src
  "$cc" "${cflags[@]}" -o "$pc/$1" "$2" "${ipc_flags[@]}" -pthread -Wl,-rpath,"$lib" ||
    die "pkg-config build of $2 failed"
}
build_pc echo_server examples/c/echo_server.c
build_pc client examples/c/client.c
build_pc zero_copy examples/c/zero_copy.c
build_pc rpc_server examples/c/rpc_server.c
build_pc rpc_client examples/c/rpc_client.c
build_pc pubsub_publisher examples/c/pubsub_publisher.c
build_pc pubsub_subscriber examples/c/pubsub_subscriber.c
build_pc ipc_test_peer tests/c/peer.c
build_pc test_api tests/c/test_api.c
build_pc test_channel tests/c/test_channel.c
build_pc test_procs tests/c/test_procs.c
build_pc test_spawn tests/c/test_spawn.c
build_pc test_hostile tests/c/test_hostile.c
build_pc test_rpc tests/c/test_rpc.c
build_pc test_pubsub tests/c/test_pubsub.c
# Static: libipc.a and the system libraries pkg-config --static lists (without -lipc, which
# would find libipc.so first).
read -r -a static_libs <<< "$(pkg-config --static --libs-only-l ipc | sed 's/-lipc\b//')"
"$cc" "${cflags[@]}" $(pkg-config --cflags ipc) -o "$pc/client_static" examples/c/client.c \
  "$lib/libipc.a" "${static_libs[@]}" || die "static link of examples/c/client.c against libipc.a failed"
if readelf -d "$pc/client_static" | grep -q 'NEEDED.*libipc'; then
  die "client_static depends on libipc.so; it should be linked statically"
fi
echo "built: $(ls "$pc" | tr '\n' ' ')"

# ------------------------------------------------------------------------------------------------
step "build examples/c and tests/c with CMake (find_package(libipc), relocated prefix)"
moved="$tmp/moved-prefix"
cp -a "$prefix" "$moved"
cmake_build() { # source-dir build-dir
  cmake -S "$1" -B "$2" -DCMAKE_PREFIX_PATH="$moved" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" > "$2.configure.log" 2>&1 ||
    { cat "$2.configure.log" >&2; die "cmake configure of $1 failed"; }
  cmake --build "$2" -j 2 > "$2.build.log" 2>&1 ||
    { cat "$2.build.log" >&2; die "cmake build of $1 failed"; }
}
cmake_build examples/c "$tmp/cmake-examples"
cmake_build tests/c "$tmp/cmake-tests"
grep -q "libipc_DIR:PATH=$moved/lib/cmake/libipc" "$tmp/cmake-examples/CMakeCache.txt" ||
  die "CMake did not find libipc in the relocated prefix $moved"
readelf -d "$tmp/cmake-examples/client" | grep -q "$moved/lib" ||
  die "the CMake-built client does not use the relocated prefix's library"
if readelf -d "$tmp/cmake-examples/client_static" | grep -q 'NEEDED.*libipc'; then
  die "client_static (libipc::ipc_static) depends on libipc.so"
fi
# Version checks of the package file.
mkdir -p "$tmp/cmake-version"
cat > "$tmp/cmake-version/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.13)
project(v LANGUAGES C)
find_package(libipc $version EXACT REQUIRED)
find_package(libipc 999.0 QUIET)
if(libipc_FOUND)
  message(FATAL_ERROR "libipc 999.0 should not be found")
endif()
EOF
cmake -S "$tmp/cmake-version" -B "$tmp/cmake-version/build" -DCMAKE_PREFIX_PATH="$moved" \
  > "$tmp/cmake-version.log" 2>&1 || { cat "$tmp/cmake-version.log" >&2; die "CMake version checks failed"; }
echo "built: $(cd "$tmp/cmake-examples" && ls echo_server client client_static zero_copy | tr '\n' ' ')"

# ------------------------------------------------------------------------------------------------
if [ $valgrind = 1 ]; then
  step "C tests under valgrind memcheck (tests/c)"
else
  step "C tests (tests/c), without valgrind"
fi
# test_spawn also starts the Rust ipc-test-peer as a child (ipc_spawn, cross-language), and
# test_hostile its hostile-server mode, test_rpc its request/reply server.
cargo build --release --quiet -p libipc-conformance --bin ipc-test-peer
export H_RUST_PEER="$target/release/ipc-test-peer"
[ -x "$H_RUST_PEER" ] || die "the Rust ipc-test-peer was not built"
# The peers the tests start (fork + exec of ipc_test_peer) run natively: valgrind checks the
# test process, which makes every call of the API itself (--trace-children=no). The
# suppressions are the installed file, the one users get (docs/c-api.md, "Valgrind").
vg=(valgrind -q --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible
    --show-leak-kinds=definite,indirect,possible --track-fds=no --trace-children=no
    --suppressions="$prefix/share/libipc/valgrind.supp")
failed=()
for t in test_api test_channel test_procs test_spawn test_hostile test_rpc test_pubsub; do
  log="$tmp/$t.log"
  start=$SECONDS
  set +e
  if [ $valgrind = 1 ]; then
    H_WATCHDOG_S=240 timeout 900 "${vg[@]}" "$pc/$t" > "$log" 2>&1
  else
    H_WATCHDOG_S=120 timeout 600 "$pc/$t" > "$log" 2>&1
  fi
  rc=$?
  set -e
  case $rc in
    0) echo "$t: ok ($((SECONDS - start)) s)" ;;
    97) cat "$log"; failed+=("$t (valgrind found errors or leaks)") ;;
    124) cat "$log"; failed+=("$t (timed out)") ;;
    *) cat "$log"; failed+=("$t (exit status $rc)") ;;
  esac
done
# The CMake-built tests work too (natively; the library and the code are the same).
( cd "$tmp/cmake-tests" && H_WATCHDOG_S=60 timeout 120 ./test_api > "$tmp/cmake-test_api.log" 2>&1 ) ||
  { cat "$tmp/cmake-test_api.log"; failed+=("test_api built with CMake"); }
[ ${#failed[@]} = 0 ] || die "C tests failed: ${failed[*]}"

# ------------------------------------------------------------------------------------------------
# Start an echo server in the background, wait for its "echoing on <endpoint>" line; its pid
# in $server_pid, the endpoint in $server_ep. Usage: start_server LOG CMD...
start_server() {
  local log=$1; shift
  start_peer "$log" "$@"
  server_pid=$peer_pid
  server_ep=$(wait_for_line "$log" "$server_pid" '^echoing on ' | sed 's/^echoing on //')
}
# the messages every client sends, and what it must print
msgs=(hello "two words" "" "héllo wörld ✓")
expected=$(printf '%s\n' "${msgs[@]}")
expect_echo() { # label client-cmd...
  local label=$1; shift
  local got
  got=$(timeout 30 "$@" "${msgs[@]}") || die "$label: the client failed (exit $?)"
  [ "$got" = "$expected" ] || die "$label: printed
$got
expected
$expected"
  echo "$label: ok"
}

step "C examples, end to end"
start_server "$tmp/c-server.log" "$pc/echo_server" "unix://$tmp/c-echo.sock"
[ "$server_ep" = "unix://$tmp/c-echo.sock" ] || die "echo_server printed 'echoing on $server_ep'"
expect_echo "C client (pkg-config) -> C echo_server" "$pc/client" "$server_ep"
expect_echo "C client (static) -> C echo_server" "$pc/client_static" "$server_ep"
expect_echo "C client (CMake) -> C echo_server" "$tmp/cmake-examples/client" "$server_ep"
expect_echo "C client (CMake, libipc::ipc_static) -> C echo_server" "$tmp/cmake-examples/client_static" "$server_ep"
# several clients at once
multi=()
for i in 1 2 3 4; do
  timeout 30 "$pc/client" "$server_ep" "client $i" a b c > "$tmp/multi-$i.out" &
  multi+=("$!")
done
for pid in "${multi[@]}"; do
  wait "$pid" || die "a concurrent C client failed"
done
for i in 1 2 3 4; do
  [ "$(cat "$tmp/multi-$i.out")" = "$(printf 'client %s\na\nb\nc' "$i")" ] || die "concurrent client $i printed: $(cat "$tmp/multi-$i.out")"
done
echo "4 concurrent C clients: ok"
stop_peer "$server_pid"
# echo_server exits 0 on SIGTERM (and removes its socket file)
[ "$stopped_rc" = 0 ] || die "echo_server exited with status $stopped_rc on SIGTERM (expected 0)"
[ ! -e "$tmp/c-echo.sock" ] || die "echo_server left its socket file behind after SIGTERM"
got=$(timeout 60 "$pc/zero_copy" "shm://zc-$$" 500) || die "zero_copy failed: $got"
[ "$got" = "zero_copy: 500 round trips over shm://zc-$$, all replies correct" ] || die "zero_copy printed: $got"
echo "zero_copy: ok"
got=$(timeout 60 "$tmp/cmake-examples/zero_copy" "unix://$tmp/zc.sock" 100) || die "zero_copy over unix:// failed: $got"
[ "$got" = "zero_copy: 100 round trips over unix://$tmp/zc.sock, all replies correct" ] || die "zero_copy printed: $got"
echo "zero_copy (CMake build, unix://): ok"
# Request/reply: the C calculator with the C and Rust clients, and the C client with the Rust
# calculator (examples/rust/rpc_*.rs, the same protocol).
cargo build --release --quiet -p libipc-examples --examples
rex="$target/release/examples"
want_calc=$'5\n120\nerror 400: unknown operation "pow"'
start_peer --socket "$tmp/c-calc.sock" "$tmp/c-calc.log" "$pc/rpc_server" "unix://$tmp/c-calc.sock"
pid=$peer_pid
for client in "$pc/rpc_client" "$rex/rpc_client"; do
  got=$(timeout 30 "$client" "unix://$tmp/c-calc.sock" "add 2 3" "mul 4 5 6" "pow 2 8") ||
    die "$client -> C rpc_server failed: $got"
  [ "$got" = "$want_calc" ] || die "$client -> C rpc_server printed: $got"
done
stop_peer "$pid"
[ "$stopped_rc" = 0 ] || die "rpc_server exited with status $stopped_rc on SIGTERM (expected 0)"
start_peer --socket "$tmp/r-calc.sock" "$tmp/r-calc.log" "$rex/rpc_server" "unix://$tmp/r-calc.sock"
pid=$peer_pid
got=$(timeout 30 "$pc/rpc_client" "unix://$tmp/r-calc.sock" "add 2 3" "mul 4 5 6" "pow 2 8") ||
  die "C rpc_client -> Rust rpc_server failed: $got"
[ "$got" = "$want_calc" ] || die "C rpc_client -> Rust rpc_server printed: $got"
stop_peer "$pid"
echo "rpc_server / rpc_client (C and Rust): ok"
# Publish/subscribe: a C publisher read by a C subscriber on a prefix and a Rust one on every
# topic, then a Rust publisher read by C subscribers.
want_all=$'prices/ACME: 101.5\nnews/ACME: merger talks\nprices/INIT: 7'
want_prices=$'prices/ACME: 101.5\nprices/INIT: 7'
for pub_lang in c rust; do
  case $pub_lang in
    c) pub="$pc/pubsub_publisher"; sub_all="$rex/pubsub_subscriber" ;;
    rust) pub="$rex/pubsub_publisher"; sub_all="$pc/pubsub_subscriber" ;;
  esac
  start_peer --socket "$tmp/tick-$pub_lang.sock" "$tmp/tick-$pub_lang.log" "$pub" \
    "unix://$tmp/tick-$pub_lang.sock" 2 "prices/ACME=101.5" "news/ACME=merger talks" "prices/INIT=7"
  pid=$peer_pid
  timeout 30 "$pc/pubsub_subscriber" "unix://$tmp/tick-$pub_lang.sock" prices/ > "$tmp/prices-$pub_lang.out" 2>&1 &
  prices_pid=$!
  got=$(timeout 30 "$sub_all" "unix://$tmp/tick-$pub_lang.sock") || die "subscriber ($pub_lang publisher) failed: $got"
  [ "$got" = "$want_all" ] || die "subscriber ($pub_lang publisher) printed: $got"
  wait "$prices_pid" || die "C prefix subscriber ($pub_lang publisher) failed: $(cat "$tmp/prices-$pub_lang.out")"
  [ "$(cat "$tmp/prices-$pub_lang.out")" = "$want_prices" ] ||
    die "C prefix subscriber ($pub_lang publisher) printed: $(cat "$tmp/prices-$pub_lang.out")"
  wait "$pid" || die "$pub_lang publisher example failed: $(cat "$tmp/tick-$pub_lang.log")"
done
echo "pubsub_publisher / pubsub_subscriber (C and Rust): ok"

# ------------------------------------------------------------------------------------------------
step "cross-language: C and Rust examples, over unix://, tcp:// and shm://"
cargo build --release --quiet -p libipc-examples --examples
rs="$target/release/examples"
[ -x "$rs/client" ] && [ -x "$rs/echo_server" ] || die "the Rust examples were not built"
for ep in "unix://$tmp/x-c.sock" "tcp://127.0.0.1:0" "shm://x-c-$$"; do
  start_server "$tmp/x-c-server.log" "$pc/echo_server" "$ep"
  expect_echo "Rust client -> C echo_server ($server_ep)" "$rs/client" "$server_ep"
  stop_peer "$server_pid"
done
for ep in "unix://$tmp/x-rs.sock" "tcp://127.0.0.1:0" "shm://x-rs-$$"; do
  start_server "$tmp/x-rs-server.log" "$rs/echo_server" "$ep"
  expect_echo "C client -> Rust echo_server ($server_ep)" "$pc/client" "$server_ep"
  stop_peer "$server_pid"
done

# Parent and child: a Rust parent (Channel::spawn) with the C child (ipc_channel_from_env);
# the C parent with a Rust child is tests/c/test_spawn.c.
got=$(timeout 120 "$H_RUST_PEER" spawn-echo 500 "$pc/ipc_test_peer" child-echo -) ||
  die "Rust parent -> C child (ipc_channel_from_env) failed: $got"
grep -q '^done exit status: 0$' <<<"$got" || die "Rust parent -> C child printed: $got"
echo "Rust parent (Channel::spawn) -> C child (ipc_channel_from_env): ok"

# ------------------------------------------------------------------------------------------------
step "C-vs-Rust round-trip benchmark (scripts/bench-c.sh), smoke run"
out=$(timeout 300 "$root/scripts/bench-c.sh" 200) || die "bench-c.sh failed: $out"
printf '%s\n' "$out"
[ "$(printf '%s\n' "$out" | grep -c '^| [a-z]* | C (')" = 2 ] || die "bench-c.sh should print a C row per transport"

# ------------------------------------------------------------------------------------------------
step "README.md's C quickstart, run exactly as written"
# Every fenced block after a "<!-- test: c-quickstart/FILE -->" line is saved as FILE.
qs="$tmp/quickstart"
mkdir -p "$qs/home/.cargo/bin"
awk -v dir="$qs" '
  /^<!-- test: c-quickstart\/[A-Za-z0-9._-]+ -->$/ { f = $3; sub(/^c-quickstart\//, "", f); next }
  f != "" && !inblock && /^```/ { inblock = 1; next }
  inblock && /^```$/ { inblock = 0; f = ""; next }
  inblock { print > (dir "/" f) }
' README.md
for f in install.sh listen.sh demo.c run.sh; do
  [ -s "$qs/$f" ] || die "README.md has no block marked <!-- test: c-quickstart/$f -->"
done
# A fresh HOME, so that the README's "$HOME/.local" prefix and ~/.cargo/bin are temporary;
# cargo keeps its real caches, toolchain and build directory.
qs_env=(env CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
        CARGO_TARGET_DIR="$target" HOME="$qs/home" CARGO_INSTALL_ROOT="$qs/home/.cargo"
        PATH="$qs/home/.cargo/bin:$PATH")
"${qs_env[@]}" bash -euo pipefail "$qs/install.sh" > "$qs/install.log" 2>&1 ||
  { cat "$qs/install.log" >&2; die "the README's install commands failed"; }
[ "$("${qs_env[@]}" bash -c 'command -v ipc')" = "$qs/home/.cargo/bin/ipc" ] ||
  die "after the README's install commands, ipc is not on PATH"
[ "$(wc -l < "$qs/listen.sh")" = 1 ] || die "the README's listen block should be one command"
start_peer "$qs/listen.log" "${qs_env[@]}" bash -euc "exec $(cat "$qs/listen.sh")"
wait_for_line "$qs/listen.log" "$peer_pid" '^listening on ' >/dev/null
got=$(cd "$qs" && timeout 120 "${qs_env[@]}" bash -euo pipefail run.sh 2>&1) ||
  die "the README's build-and-run commands failed: $got"
[ "$got" = ping ] || die "the README's quickstart printed '$got', expected 'ping'"
stop_peer "$peer_pid"
echo "README C quickstart: prints ping"

step "C API: all checks passed"
