#!/usr/bin/env bash
# The Kotlin and Swift examples (examples/kotlin, examples/swift), built and run end to end:
#   ./scripts/uniffi-examples.sh
#
# Each echo server (Kotlin on the JVM, Swift inside the trixie chroot) listens over unix:// and
# over shm://; its "echoing on <endpoint>" line is checked, then every client there is (the
# Kotlin, the Swift and the Rust one, examples/rust/client.rs) sends three messages and must print
# exactly the three replies. The server is then stopped with SIGTERM and must exit as documented
# (Swift: 0; Kotlin: the JVM's 143) and leave no socket file behind.
#
# Kotlin needs Java >= 17 and Maven (downloads cached in $LIBIPC_CACHE/m2, default
# ~/.cache/libipc/m2; LIBIPC_MAVEN_OFFLINE=1 runs Maven offline); Swift needs the chroot of
# scripts/swift-chroot.sh (created once and cached; needs root). LIBIPC_SKIP_KOTLIN=1 and
# LIBIPC_SKIP_SWIFT=1 skip a language, and say so.
. "$(dirname "$0")/lib.sh"

skip_kotlin=${LIBIPC_SKIP_KOTLIN:-0}
skip_swift=${LIBIPC_SKIP_SWIFT:-0}
[ "$skip_kotlin" != 1 ] ||
  echo "uniffi-examples.sh: LIBIPC_SKIP_KOTLIN=1: the Kotlin examples are NOT built or run"
[ "$skip_swift" != 1 ] ||
  echo "uniffi-examples.sh: LIBIPC_SKIP_SWIFT=1: the Swift examples are NOT built or run"
if [ "$skip_kotlin" = 1 ] && [ "$skip_swift" = 1 ]; then exit 0; fi
need_cmd timeout "" "coreutils"

if [ "$skip_kotlin" != 1 ]; then
  step "Kotlin toolchain: Java >= 17 and Maven"
  need_cmd java default-jdk-headless "install a JDK >= 17 (Debian: default-jdk-headless), or set LIBIPC_SKIP_KOTLIN=1"
  need_cmd mvn maven "install Maven (Debian: maven), or set LIBIPC_SKIP_KOTLIN=1"
fi
if [ "$skip_swift" != 1 ]; then
  step "Swift toolchain: Debian trixie's swiftlang in a cached chroot (scripts/swift-chroot.sh ensure)"
  ./scripts/swift-chroot.sh ensure
fi

step "the uniffi library and its generated bindings (scripts/uniffi-gen.sh), the Rust client example"
gen_out=$(./scripts/uniffi-gen.sh) || die "scripts/uniffi-gen.sh failed"
kotlin_gen=$(sed -n 's/^kotlin=//p' <<< "$gen_out")
swift_gen=$(sed -n 's/^swift=//p' <<< "$gen_out")
lib=$(sed -n 's/^lib=//p' <<< "$gen_out")
[ -n "$kotlin_gen" ] && [ -n "$swift_gen" ] && [ -n "$lib" ] ||
  die "scripts/uniffi-gen.sh did not say where it wrote"
target=$(cargo_target_dir)
cargo build --release -p libipc-examples --example client
rust_client="$target/release/examples/client"
[ -x "$rust_client" ] || die "cargo did not build $rust_client"

mktempdir tmp
export LIBIPC_RUNTIME_DIR="$tmp/run"
mkdir -m 0700 "$LIBIPC_RUNTIME_DIR"
# A private copy of the generated sources: another run of scripts/uniffi-gen.sh (a test script
# in parallel) replaces its output directory while this one compiles.
cp -r "$kotlin_gen" "$tmp/kotlin-gen" && cp -r "$swift_gen" "$tmp/swift-gen" ||
  die "could not copy the generated bindings"
kotlin_gen=$tmp/kotlin-gen swift_gen=$tmp/swift-gen

if [ "$skip_kotlin" != 1 ]; then
  step "Kotlin: mvn compile in examples/kotlin (Maven cache: ${LIBIPC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libipc}/m2)"
  repo=${LIBIPC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libipc}/m2
  mkdir -p "$repo"
  offline=()
  if [ "${LIBIPC_MAVEN_OFFLINE:-0}" = 1 ]; then offline=(-o); fi
  (cd examples/kotlin &&
    mvn -B -ntp -q -Dstyle.color=never "${offline[@]}" "-Dmaven.repo.local=$repo" "-Dlibipc.generated=$kotlin_gen" \
      clean compile dependency:build-classpath "-Dmdep.outputFile=$tmp/kotlin-classpath") ||
    die "mvn could not build examples/kotlin"
  kotlin_cp="$root/examples/kotlin/target/classes:$(cat "$tmp/kotlin-classpath")"
  kotlin=(java -Djna.library.path="$lib" -cp "$kotlin_cp")
fi

if [ "$skip_swift" != 1 ]; then
  step "Swift: swiftc examples/swift/{echo_server,client,rpc_server,rpc_client,pubsub_publisher,pubsub_subscriber}.swift (inside the chroot)"
  binds=(--bind "$tmp")
  case "$target" in "$root"/*) ;; *) binds+=(--bind "$target") ;; esac
  for prog in echo_server client rpc_server rpc_client pubsub_publisher pubsub_subscriber; do
    ./scripts/swift-chroot.sh run "${binds[@]}" -- swiftc -O -parse-as-library -module-name "$prog" \
      -I "$swift_gen" -Xcc -fmodule-map-file="$swift_gen/LibIpcFFI.modulemap" \
      "$swift_gen/LibIpc.swift" bindings/swift/Sources/*.swift "examples/swift/$prog.swift" \
      -L "$lib" -llibipc_uniffi -Xlinker -rpath -Xlinker "$lib" -o "$tmp/swift-$prog" ||
      die "swiftc could not compile examples/swift/$prog.swift"
  done
  swift=(./scripts/swift-chroot.sh run "${binds[@]}" --)
fi

# The clients and what each must print for the messages below.
messages=(hello "two words" "grüße, 世界")
expected=$(printf '%s\n' "${messages[@]}")
clients=(rust)
[ "$skip_kotlin" = 1 ] || clients+=(kotlin)
[ "$skip_swift" = 1 ] || clients+=(swift)

run_client() {
  local lang=$1 endpoint=$2; shift 2
  case $lang in
    rust) timeout -k 5 60 "$rust_client" "$endpoint" "$@" ;;
    kotlin) timeout -k 5 60 "${kotlin[@]}" dev.libipc.examples.ClientKt "$endpoint" "$@" ;;
    swift) timeout -k 5 60 "${swift[@]}" "$tmp/swift-client" "$endpoint" "$@" ;;
  esac
}

# serve LANG TRANSPORT ENDPOINT: start LANG's echo server at ENDPOINT, run every client against
# it, stop it.
serve() {
  local lang=$1 transport=$2 endpoint=$3 log="$tmp/$1-$2-server.log" line client out want_rc
  step "$lang echo server over $transport: the ${clients[*]} clients"
  case $lang in
    kotlin) start_peer "$log" "${kotlin[@]}" dev.libipc.examples.EchoServerKt "$endpoint"; want_rc=143 ;;
    swift) start_peer "$log" "${swift[@]}" "$tmp/swift-echo_server" "$endpoint"; want_rc=0 ;;
  esac
  line=$(wait_for_line "$log" "$peer_pid" '^echoing on ')
  [ "$line" = "echoing on $endpoint" ] ||
    die "the $lang server printed '$line', not 'echoing on $endpoint'"
  echo "$lang server: $line"
  for client in "${clients[@]}"; do
    out=$(run_client "$client" "$endpoint" "${messages[@]}") ||
      { cat "$log" >&2; die "the $client client failed against the $lang server over $transport"; }
    [ "$out" = "$expected" ] ||
      die "the $client client printed '$out' against the $lang server over $transport, not '$expected'"
    echo "  $client client: ${#messages[@]} replies, as sent"
  done
  stop_peer "$peer_pid"
  [ "$stopped_rc" = "$want_rc" ] ||
    { cat "$log" >&2; die "the $lang server exited with $stopped_rc on SIGTERM, not $want_rc"; }
  case $endpoint in
    unix://*) [ ! -e "${endpoint#unix://}" ] || die "the $lang server left its socket file ${endpoint#unix://}" ;;
  esac
  echo "  $lang server: stopped by SIGTERM (exit $stopped_rc)"
}

servers=()
[ "$skip_kotlin" = 1 ] || servers+=(kotlin)
[ "$skip_swift" = 1 ] || servers+=(swift)
for server in "${servers[@]}"; do
  serve "$server" unix "unix://$tmp/$server-echo.sock"
  serve "$server" shm "shm://libipc-example-$server-$$"
done

# Request/reply and publish/subscribe: the Kotlin and Swift examples with the Rust ones (the
# calculator server, the publisher and the subscriber of examples/rust).
langs=("${servers[@]}")
step "request/reply and publish/subscribe examples: ${langs[*]} with the Rust examples"
cargo build --release -p libipc-examples --examples
rex="$target/release/examples"
run_example() { # lang what args...
  local lang=$1 what=$2; shift 2
  case "$lang:$what" in
    rust:*) timeout -k 5 60 "$rex/$what" "$@" ;;
    kotlin:rpc_client) timeout -k 5 60 "${kotlin[@]}" dev.libipc.examples.RpcClientKt "$@" ;;
    kotlin:pubsub_publisher) timeout -k 5 60 "${kotlin[@]}" dev.libipc.examples.PublisherKt "$@" ;;
    kotlin:pubsub_subscriber) timeout -k 5 60 "${kotlin[@]}" dev.libipc.examples.SubscriberKt "$@" ;;
    swift:*) timeout -k 5 60 "${swift[@]}" "$tmp/swift-$what" "$@" ;;
  esac
}
want_calc=$'5\n120\nerror 400: unknown operation "pow"'
start_peer --socket "$tmp/calc.sock" "$tmp/calc.log" "$rex/rpc_server" "unix://$tmp/calc.sock"
calc_pid=$peer_pid
for lang in "${langs[@]}"; do
  got=$(run_example "$lang" rpc_client "unix://$tmp/calc.sock" "add 2 3" "mul 4 5 6" "pow 2 8") ||
    die "the $lang rpc_client failed against the Rust calculator: $got"
  [ "$got" = "$want_calc" ] || die "the $lang rpc_client printed: $got"
  echo "  $lang rpc_client -> Rust rpc_server: ok"
done
stop_peer "$calc_pid"
# Each language's calculator, with its own client and the Rust one.
for lang in "${langs[@]}"; do
  case $lang in
    kotlin) start_peer "$tmp/$lang-calc.log" "${kotlin[@]}" dev.libipc.examples.RpcServerKt "unix://$tmp/$lang-calc.sock" ;;
    swift) start_peer "$tmp/$lang-calc.log" "${swift[@]}" "$tmp/swift-rpc_server" "unix://$tmp/$lang-calc.sock" ;;
  esac
  server_pid=$peer_pid
  wait_for_line "$tmp/$lang-calc.log" "$server_pid" '^serving on ' > /dev/null
  for client in "$lang" rust; do
    got=$(run_example "$client" rpc_client "unix://$tmp/$lang-calc.sock" "add 2 3" "mul 4 5 6" "pow 2 8") ||
      die "the $client rpc_client failed against the $lang calculator: $got"
    [ "$got" = "$want_calc" ] || die "the $client rpc_client printed against the $lang calculator: $got"
    echo "  $client rpc_client -> $lang rpc_server: ok"
  done
  stop_peer "$server_pid"
done
want_all=$'prices/ACME: 101.5\nnews/ACME: merger talks\nprices/INIT: 7'
want_prices=$'prices/ACME: 101.5\nprices/INIT: 7'
for lang in "${langs[@]}"; do
  for pub_lang in rust "$lang"; do
    sub_all=$([ "$pub_lang" = rust ] && echo "$lang" || echo rust)
    ep="unix://$tmp/tick-$lang-$pub_lang.sock"
    run_example "$pub_lang" pubsub_publisher "$ep" 2 "prices/ACME=101.5" "news/ACME=merger talks" \
      "prices/INIT=7" > "$tmp/pub-$lang-$pub_lang.log" 2>&1 &
    pub_pid=$!
    wait_for_socket "${ep#unix://}" "$pub_pid"
    run_example "$lang" pubsub_subscriber "$ep" prices/ > "$tmp/prices-$lang-$pub_lang.out" 2>&1 &
    prices_pid=$!
    got=$(run_example "$sub_all" pubsub_subscriber "$ep") ||
      die "the $sub_all subscriber ($pub_lang publisher) failed: $got"
    [ "$got" = "$want_all" ] || die "the $sub_all subscriber ($pub_lang publisher) printed: $got"
    wait "$prices_pid" || die "the $lang prefix subscriber failed: $(cat "$tmp/prices-$lang-$pub_lang.out")"
    [ "$(cat "$tmp/prices-$lang-$pub_lang.out")" = "$want_prices" ] ||
      die "the $lang prefix subscriber printed: $(cat "$tmp/prices-$lang-$pub_lang.out")"
    wait "$pub_pid" || die "the $pub_lang publisher failed: $(cat "$tmp/pub-$lang-$pub_lang.log")"
    echo "  $pub_lang publisher -> $sub_all and $lang (prices/) subscribers: ok"
  done
done

step "examples: all passed (servers: ${servers[*]}; clients: ${clients[*]}; over unix and shm)"
