#!/usr/bin/env bash
# The Kotlin binding on the JVM: the uniffi-generated Kotlin compiled with bindings/kotlin (Maven,
# kotlin-maven-plugin) and its JUnit 5 suite run against the native library through JNA:
#   ./scripts/kotlin-tests.sh [--generated DIR] [--lib-dir DIR] [extra mvn arguments]
# e.g. ./scripts/kotlin-tests.sh -Dtest=ToolchainSmokeTest
#
#   --generated DIR  the generated Kotlin (uniffi-bindgen's --out-dir; default
#                    $LIBIPC_KOTLIN_GENERATED)
#   --lib-dir DIR    the directory holding liblibipc_uniffi.so, given to JNA as jna.library.path
#                    (default $LIBIPC_LIB_DIR)
# The test peers are passed on when set: LIBIPC_RUST_PEER (the Rust peer binary), LIBIPC_PYTHON
# (a Python that imports libipc) and LIBIPC_PY_HELPER (the Python peer script); the tests start
# their interop contract servers (tests/interop/README.md).
#
# Needs Java >= 17 and Maven (on Debian, installed with apt-get when run as root). Maven's
# downloads are cached outside the repository in $LIBIPC_CACHE/m2 (default ~/.cache/libipc/m2,
# XDG_CACHE_HOME honoured); LIBIPC_MAVEN_OFFLINE=1 runs Maven offline from that cache.
# LIBIPC_SKIP_KOTLIN=1 skips it all, and says so.
. "$(dirname "$0")/lib.sh"

if [ "${LIBIPC_SKIP_KOTLIN:-0}" = 1 ]; then
  echo "kotlin-tests.sh: SKIPPED (LIBIPC_SKIP_KOTLIN=1): the Kotlin binding was not generated or compiled, and its JVM tests (bindings/kotlin) did not run"
  exit 0
fi

generated=${LIBIPC_KOTLIN_GENERATED:-}
libdir=${LIBIPC_LIB_DIR:-}
mvn_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --generated) [ $# -ge 2 ] || die "--generated needs a directory"; generated=$2; shift 2 ;;
    --lib-dir) [ $# -ge 2 ] || die "--lib-dir needs a directory"; libdir=$2; shift 2 ;;
    *) mvn_args+=("$1"); shift ;;
  esac
done

step "Kotlin toolchain: Java >= 17 and Maven"
need_cmd java default-jdk-headless "install a JDK >= 17 (Debian: default-jdk-headless), or set LIBIPC_SKIP_KOTLIN=1"
need_cmd mvn maven "install Maven (Debian: maven), or set LIBIPC_SKIP_KOTLIN=1"
# The Java that Maven runs on (JAVA_HOME, else java on PATH) compiles and runs the tests.
mvn_java=$(mvn -B -v 2>/dev/null | sed -n 's/^Java version: \([0-9][0-9]*\).*/\1/p' | head -n1)
[ -n "$mvn_java" ] || die "could not tell which Java Maven runs on (mvn -v printed no 'Java version')"
[ "$mvn_java" -ge 17 ] ||
  die "Maven runs on Java $mvn_java; bindings/kotlin needs Java >= 17 (set JAVA_HOME to a JDK >= 17)"
mvn -B -v 2>/dev/null | sed -n -e 's/\x1b\[[0-9;]*m//g' -e '/^Apache Maven/p' -e '/^Java version/p'

cache=${LIBIPC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libipc}
repo="$cache/m2"
mkdir -p "$repo"

step "the uniffi library and its generated Kotlin (scripts/uniffi-gen.sh)"
if [ -z "$generated" ] || [ -z "$libdir" ]; then
  gen_out=$(./scripts/uniffi-gen.sh) || die "scripts/uniffi-gen.sh failed"
  [ -n "$generated" ] || generated=$(sed -n 's/^kotlin=//p' <<< "$gen_out")
  [ -n "$libdir" ] || libdir=$(sed -n 's/^lib=//p' <<< "$gen_out")
fi
target=$(cargo_target_dir)
if [ -z "${LIBIPC_RUST_PEER:-}" ]; then
  cargo build --release -p libipc-conformance --bin ipc-test-peer
  export LIBIPC_RUST_PEER="$target/release/ipc-test-peer"
fi
if [ -z "${LIBIPC_PYTHON:-}" ]; then
  export LIBIPC_PYTHON="$target/python-venv/bin/python"
  [ -x "$LIBIPC_PYTHON" ] ||
    die "no Python virtual environment at $target/python-venv: run ./scripts/python-tests.sh first (scripts/test.sh does)"
fi
export LIBIPC_PY_HELPER=${LIBIPC_PY_HELPER:-$root/bindings/python/tests/helper.py}

step "generated Kotlin and the native library"
props=()
if [ -n "$generated" ]; then
  [ -d "$generated" ] || die "the generated Kotlin directory $generated does not exist"
  find "$generated" -name '*.kt' | grep -q . || die "no .kt file under $generated"
  generated=$(cd "$generated" && pwd)
  props+=("-Dlibipc.generated=$generated")
  echo "generated Kotlin: $generated ($(find "$generated" -name '*.kt' | wc -l) files)"
else
  echo "kotlin-tests.sh: NOTE: no generated Kotlin given (--generated or LIBIPC_KOTLIN_GENERATED): only bindings/kotlin's own sources are compiled and tested"
fi
if [ -n "$libdir" ]; then
  [ -d "$libdir" ] || die "the library directory $libdir does not exist"
  libdir=$(cd "$libdir" && pwd)
  if [ -n "$generated" ]; then
    [ -f "$libdir/liblibipc_uniffi.so" ] || die "no liblibipc_uniffi.so in $libdir"
  fi
  props+=("-Dlibipc.lib.dir=$libdir")
  echo "native library directory (jna.library.path): $libdir"
elif [ -n "$generated" ]; then
  die "the generated Kotlin needs the native library: give --lib-dir or LIBIPC_LIB_DIR"
fi
[ -z "${LIBIPC_RUST_PEER:-}" ] || props+=("-Dlibipc.rust.peer=$LIBIPC_RUST_PEER")
[ -z "${LIBIPC_PYTHON:-}" ] || props+=("-Dlibipc.python=$LIBIPC_PYTHON")
[ -z "${LIBIPC_PY_HELPER:-}" ] || props+=("-Dlibipc.py.helper=$LIBIPC_PY_HELPER")

step "mvn clean test in bindings/kotlin (Maven cache: $repo)"
offline=()
if [ "${LIBIPC_MAVEN_OFFLINE:-0}" = 1 ]; then offline=(-o); fi
(cd bindings/kotlin &&
  mvn -B -ntp "${offline[@]}" "-Dmaven.repo.local=$repo" "${props[@]}" "${mvn_args[@]}" clean test) ||
  die "mvn clean test failed in bindings/kotlin (reports: bindings/kotlin/target/surefire-reports)"

step "Kotlin: all passed"
