#!/usr/bin/env bash
# The Python package, tested the way a Python user gets it:
#   ./scripts/python-tests.sh [extra pytest arguments]
#
# 1. creates a virtual environment in <target dir>/python-venv (recreated when the python3 version
#    changes) and installs the package with `pip install ./bindings/python` (maturin through
#    PEP 517, with build isolation), pytest, pytest-timeout, mypy and, when it installs, pyzmq
#    (optional: only the benchmark uses it);
# 2. `mypy --strict` on the package's own modules and stubs, on examples/python and on
#    bench/python (the round-trip client scripts/bench-compare.sh measures);
# 3. the pytest suite (bindings/python/tests), with pytest-timeout as the watchdog;
# 4. the Python examples end to end (echo_server + client, async_echo, zero_copy);
# 5. cross-language: the Python client with the Rust echo_server and the Rust client with the
#    Python echo_server, over unix://, tcp:// and shm:// (and, in the pytest suite, Python and
#    Rust parents and children: tests/test_spawn.py with the Rust ipc-test-peer);
# 6. smoke-runs the benchmark (bindings/python/bench.py --quick).
#
# Needs python3 >= 3.11 with the venv module (on Debian, installed with apt-get when run as
# root) and cargo. Downloads are cached by pip in ~/.cache/pip and by cargo in ~/.cargo.
# Environment: PYTHON (default python3), KEEP_TMP=1 (keep the temporary directory).
# The virtual environment lives in cargo's target directory (CARGO_TARGET_DIR is honoured).
. "$(dirname "$0")/lib.sh"

need_cmd timeout "" "coreutils"
python_venv
target=$(cargo_target_dir)
"$vpy" -m pip install -q --disable-pip-version-check pytest pytest-timeout mypy ||
  die "pip could not install pytest, pytest-timeout and mypy"
if "$vpy" -m pip install -q --disable-pip-version-check pyzmq >/dev/null 2>&1; then
  echo "pyzmq $("$vpy" -c 'import zmq; print(zmq.__version__)'): the benchmark includes it"
else
  echo "python-tests.sh: NOTE: pyzmq could not be installed; the benchmark runs without it"
fi

python_install_libipc

step "Rust binaries for the cross-language checks (ipc CLI, examples, test peer)"
cargo build --release -p libipc-cli --bin ipc
cargo build --release -p libipc-examples --examples
cargo build --release -p libipc-conformance --bin ipc-test-peer
rex="$target/release/examples"
export LIBIPC_IPC_BIN="$target/release/ipc"
# The Rust parent and child of the parent-and-child tests (tests/test_spawn.py).
export LIBIPC_TEST_PEER_BIN="$target/release/ipc-test-peer"

step "mypy --strict: the package (its stubs and the pure-Python modules), examples/python, bench/python"
[ -d examples/python ] || die "examples/python is missing"
"$vpy" -m mypy --strict bindings/python/python/libipc examples/python bench/python

mktempdir tmp
export LIBIPC_RUNTIME_DIR="$tmp/run"
mkdir -m 0700 "$LIBIPC_RUNTIME_DIR"

step "pytest bindings/python/tests (pytest-timeout is the watchdog)"
# -p no:cacheprovider: nothing written into the source tree; --basetemp: tmp_path directories
# go into our temporary directory (pytest otherwise keeps the last three in /tmp/pytest-of-$USER).
"$vpy" -m pytest -p no:cacheprovider --basetemp="$tmp/pytest" --timeout=120 -q bindings/python/tests "$@"

step "Python examples, run end to end"
pex="$root/examples/python"
for f in echo_server.py client.py async_echo.py zero_copy.py rpc_server.py rpc_client.py \
         pubsub_publisher.py pubsub_subscriber.py; do
  [ -f "$pex/$f" ] || die "examples/python/$f is missing"
done
start_peer --socket "$tmp/py-echo.sock" "$tmp/py-echo.out" "$vpy" -u "$pex/echo_server.py" "unix://$tmp/py-echo.sock"
pid=$peer_pid
got=$(timeout 60 "$vpy" "$pex/client.py" "unix://$tmp/py-echo.sock" hello "two words") ||
  die "examples/python/client.py failed: $got"
[ "$got" = $'hello\ntwo words' ] || die "client.py printed: $got"
stop_peer "$pid"
got=$(timeout 60 "$vpy" "$pex/async_echo.py") || die "async_echo.py failed: $got"
[ "$got" = $'one\ntwo\nthree' ] || die "async_echo.py printed: $got"
timeout 60 "$vpy" "$pex/zero_copy.py" || die "zero_copy.py failed"
# Request/reply: the Python calculator with the Python client, and across languages with the
# Rust client and server (examples/rust/rpc_*.rs, the same protocol).
want_calc=$'5\n120\nerror 400: unknown operation "pow"'
start_peer --socket "$tmp/calc.sock" "$tmp/calc.out" "$vpy" -u "$pex/rpc_server.py" "unix://$tmp/calc.sock"
pid=$peer_pid
got=$(timeout 60 "$vpy" "$pex/rpc_client.py" "unix://$tmp/calc.sock" "add 2 3" "mul 4 5 6" "pow 2 8") ||
  die "rpc_client.py failed: $got"
[ "$got" = "$want_calc" ] || die "rpc_client.py printed: $got"
got=$(timeout 60 "$rex/rpc_client" "unix://$tmp/calc.sock" "add 2 3" "mul 4 5 6" "pow 2 8") ||
  die "Rust rpc_client -> Python rpc_server failed: $got"
[ "$got" = "$want_calc" ] || die "Rust rpc_client -> Python rpc_server printed: $got"
stop_peer "$pid"
start_peer --socket "$tmp/rcalc.sock" "$tmp/rcalc.out" "$rex/rpc_server" "unix://$tmp/rcalc.sock"
pid=$peer_pid
got=$(timeout 60 "$vpy" "$pex/rpc_client.py" "unix://$tmp/rcalc.sock" "add 2 3" "mul 4 5 6" "pow 2 8") ||
  die "Python rpc_client -> Rust rpc_server failed: $got"
[ "$got" = "$want_calc" ] || die "Python rpc_client -> Rust rpc_server printed: $got"
stop_peer "$pid"
# Publish/subscribe: a Python publisher read by a Python and a Rust subscriber (one on a
# prefix), then a Rust publisher read by Python subscribers (examples/rust/pubsub_*.rs).
want_all=$'prices/ACME: 101.5\nnews/ACME: merger talks\nprices/INIT: 7'
want_prices=$'prices/ACME: 101.5\nprices/INIT: 7'
for publisher in python rust; do
  case $publisher in
    python) pub=("$vpy" -u "$pex/pubsub_publisher.py"); sub_prices=("$rex/pubsub_subscriber") ;;
    rust) pub=("$rex/pubsub_publisher"); sub_prices=("$vpy" "$pex/pubsub_subscriber.py") ;;
  esac
  ep="unix://$tmp/ticker-$publisher.sock"
  start_peer --socket "$tmp/ticker-$publisher.sock" "$tmp/ticker-$publisher.out" "${pub[@]}" "$ep" 2 \
    "prices/ACME=101.5" "news/ACME=merger talks" "prices/INIT=7"
  pid=$peer_pid
  timeout 60 "${sub_prices[@]}" "$ep" prices/ > "$tmp/prices-$publisher.out" 2>&1 &
  prices_pid=$!
  got=$(timeout 60 "$vpy" "$pex/pubsub_subscriber.py" "$ep") ||
    die "pubsub_subscriber.py ($publisher publisher) failed: $got"
  [ "$got" = "$want_all" ] || die "pubsub_subscriber.py ($publisher publisher) printed: $got"
  wait "$prices_pid" || die "prefix subscriber ($publisher publisher) failed: $(cat "$tmp/prices-$publisher.out")"
  [ "$(cat "$tmp/prices-$publisher.out")" = "$want_prices" ] ||
    die "prefix subscriber ($publisher publisher) printed: $(cat "$tmp/prices-$publisher.out")"
  wait "$pid" || die "$publisher publisher example failed: $(cat "$tmp/ticker-$publisher.out")"
done
echo "Python examples: ok"

step "cross-language: Python <-> Rust examples over unix://, tcp://, shm://"
n=0
for transport in unix tcp shm; do
  for server in rust python; do
    n=$((n + 1))
    case $transport in
      unix) ep="unix://$tmp/x$n.sock"; sock="$tmp/x$n.sock" ;;
      shm) ep="shm://x$n"; sock="$LIBIPC_RUNTIME_DIR/x$n.shm.sock" ;;
      tcp) ep="tcp://127.0.0.1:0"; sock= ;;
    esac
    out="$tmp/server$n.out"
    if [ "$server" = rust ]; then
      start_peer "$out" "$rex/echo_server" "$ep"
    else
      start_peer "$out" "$vpy" -u "$pex/echo_server.py" "$ep"
    fi
    pid=$peer_pid
    if [ -n "$sock" ]; then
      wait_for_socket "$sock" "$pid"
    else
      # Both echo servers print the real endpoint on their first line ("echoing on tcp://...").
      line=$(wait_for_line "$out" "$pid" 'tcp://')
      ep=$(grep -o 'tcp://[^ ]*' <<<"$line" | head -n1)
      [ -n "$ep" ] || die "$server echo_server printed no tcp:// endpoint: $line"
    fi
    if [ "$server" = rust ]; then
      got=$(timeout 60 "$vpy" "$pex/client.py" "$ep" hello "from python") ||
        die "Python client -> Rust echo_server over $ep failed: $got"
    else
      got=$(timeout 60 "$rex/client" "$ep" hello "from python") ||
        die "Rust client -> Python echo_server over $ep failed: $got"
    fi
    [ "$got" = $'hello\nfrom python' ] || die "$transport, $server server: the client printed: $got"
    echo "$transport: $( [ "$server" = rust ] && echo 'Python client -> Rust server' || echo 'Rust client -> Python server'): ok"
    stop_peer "$pid"
  done
done

step "benchmark smoke run (bindings/python/bench.py --quick)"
timeout 300 "$vpy" bindings/python/bench.py --quick || die "bench.py --quick failed"

step "Python: all passed"
