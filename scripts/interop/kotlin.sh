#!/usr/bin/env bash
# Builds the Kotlin peer of the interop matrix (bindings/kotlin/src/test/kotlin/dev/libipc/
# InteropPeer.kt; the contract: tests/interop/README.md) and prints, as its LAST line on stdout,
# the command that starts it as a JSON array:
#   ["java", "-Djna.library.path=<lib>", "-cp", "<classes>:<test classes>:<jars>", "dev.libipc.InteropPeerKt"]
# Everything else goes to stderr.
#
#   ./scripts/interop/kotlin.sh
#
# The library and its generated Kotlin come from scripts/uniffi-gen.sh, unless both
# LIBIPC_KOTLIN_GENERATED (the generated Kotlin) and LIBIPC_LIB_DIR (the directory holding
# liblibipc_uniffi.so) are set. Maven (as in scripts/kotlin-tests.sh: Java >= 17, the cache
# $LIBIPC_CACHE/m2, offline when LIBIPC_MAVEN_OFFLINE=1) compiles the classes into
# <cargo target>/interop/kotlin/maven (not bindings/kotlin/target, which the JUnit suite cleans)
# and writes the runtime classpath; both are redone only when an input changed (the generated
# Kotlin, bindings/kotlin's sources or pom.xml).
# LIBIPC_SKIP_KOTLIN=1 builds nothing, says so on stderr and prints `null`.
. "$(dirname "$0")/../lib.sh"

if [ "${LIBIPC_SKIP_KOTLIN:-0}" = 1 ]; then
  echo "interop/kotlin.sh: SKIPPED (LIBIPC_SKIP_KOTLIN=1): no Kotlin peer, the interop matrix runs without Kotlin" >&2
  echo null
  exit 0
fi

# stdout is for the last line only: the chatter (steps, Maven, cargo) goes to stderr.
exec 3>&1 1>&2

step "Kotlin toolchain: Java >= 17 and Maven"
need_cmd java default-jdk-headless "install a JDK >= 17 (Debian: default-jdk-headless), or set LIBIPC_SKIP_KOTLIN=1"
need_cmd mvn maven "install Maven (Debian: maven), or set LIBIPC_SKIP_KOTLIN=1"
need_cmd python3 "" "python3 writes the JSON line"
mvn_java=$(mvn -B -v 2>/dev/null | sed -n 's/^Java version: \([0-9][0-9]*\).*/\1/p' | head -n1)
[ -n "$mvn_java" ] || die "could not tell which Java Maven runs on (mvn -v printed no 'Java version')"
[ "$mvn_java" -ge 17 ] ||
  die "Maven runs on Java $mvn_java; bindings/kotlin needs Java >= 17 (set JAVA_HOME to a JDK >= 17)"
# The peer runs on the Java Maven compiled for.
java_home=$(mvn -B -v 2>/dev/null | sed -n 's/^Java version: .*, runtime: \(.*\)$/\1/p' | head -n1)
java_bin=$(command -v java)
[ -z "$java_home" ] || [ ! -x "$java_home/bin/java" ] || java_bin=$java_home/bin/java

step "the uniffi library and its generated Kotlin"
uniffi_outputs kotlin "${LIBIPC_KOTLIN_GENERATED:-}"
generated=$uniffi_gen
libdir=$uniffi_lib

target=$(cargo_target_dir)
out="$target/interop/kotlin"
build="$out/maven"
classpath_file="$out/classpath.txt"
stamp="$out/inputs.sha256"
peer_class="$build/test-classes/dev/libipc/InteropPeerKt.class"
mkdir -p "$out"

# What the classes are made from; the same inputs give the same classes.
inputs=$(
  cd "$root" &&
    { find "$generated" -name '*.kt'; find bindings/kotlin/src -type f; echo bindings/kotlin/pom.xml; } |
    LC_ALL=C sort | xargs sha256sum
  echo "java $mvn_java"
)
build_peer() {
  local cache=${LIBIPC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libipc} offline=()
  mkdir -p "$cache/m2"
  if [ "${LIBIPC_MAVEN_OFFLINE:-0}" = 1 ]; then offline=(-o); fi
  step "mvn test-compile dependency:build-classpath in bindings/kotlin (into $build; Maven cache: $cache/m2)"
  rm -f "$classpath_file"
  (cd bindings/kotlin &&
    mvn -B -ntp -q -Dstyle.color=never "${offline[@]}" "-Dmaven.repo.local=$cache/m2" \
      "-Dlibipc.generated=$generated" "-Dlibipc.lib.dir=$libdir" "-Dlibipc.build.dir=$build" \
      "-Dmdep.outputFile=$classpath_file" -DincludeScope=runtime \
      clean test-compile dependency:build-classpath) ||
    die "Maven could not compile the Kotlin peer (bindings/kotlin) or list its classpath"
  [ -f "$peer_class" ] || die "Maven built no InteropPeerKt class in $build"
  [ -s "$classpath_file" ] || die "Maven wrote no classpath to $classpath_file"
}
rebuild_when_changed "$stamp" "$inputs" "Kotlin peer in $build" build_peer "$classpath_file" "$peer_class"

cp="$build/test-classes:$build/classes:$(cat "$classpath_file")"
echo "Kotlin peer: $java_bin ... dev.libipc.InteropPeerKt (library: $libdir)"
python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \
  "$java_bin" "-Djna.library.path=$libdir" -cp "$cp" dev.libipc.InteropPeerKt >&3
