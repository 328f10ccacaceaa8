"""Shared fixtures: a private runtime directory, endpoints per transport, in-process channel
pairs, helper processes (tests/helper.py) and the Rust `ipc` CLI.

Nothing here asserts a wall-clock bound: pytest-timeout (``--timeout``) is the watchdog for
anything that could hang.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import libipc

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
HELPER = HERE / "helper.py"

# Transports every channel test runs over; "bare" is a bare name (a socket in the runtime dir).
TRANSPORTS = ["unix", "tcp", "shm", "fifo"]
ALL_TRANSPORTS = ["unix", "tcp", "shm", "fifo", "bare", "abstract"]
# Transports with peer credentials.
CRED_TRANSPORTS = ["unix", "shm", "bare", "abstract"]

_counter = itertools.count()
_RUNTIME_DIR: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    # A private 0700 runtime directory for bare names and shm:// control sockets, set before
    # any test (and inherited by every helper process). Short, so socket paths stay < 108 bytes.
    global _RUNTIME_DIR
    _RUNTIME_DIR = tempfile.mkdtemp(prefix="ipcpy-")
    os.chmod(_RUNTIME_DIR, 0o700)
    os.environ["LIBIPC_RUNTIME_DIR"] = _RUNTIME_DIR


def pytest_unconfigure(config: pytest.Config) -> None:
    if _RUNTIME_DIR:
        shutil.rmtree(_RUNTIME_DIR, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def runtime_dir() -> Iterator[Path]:
    """The private runtime directory (LIBIPC_RUNTIME_DIR), 0700, removed at the end."""
    assert _RUNTIME_DIR is not None
    path = Path(_RUNTIME_DIR)
    assert os.environ["LIBIPC_RUNTIME_DIR"] == _RUNTIME_DIR
    assert (path.stat().st_mode & 0o777) == 0o700
    yield path


def unique(prefix: str = "t") -> str:
    return f"{prefix}{os.getpid()}-{next(_counter)}"


def listen_endpoint(kind: str) -> str:
    """An endpoint string to listen at; connect to ``listener.endpoint``."""
    assert _RUNTIME_DIR is not None
    name = unique()
    if kind == "unix":
        return f"unix://{_RUNTIME_DIR}/{name}.sock"
    if kind == "tcp":
        return "tcp://127.0.0.1:0"
    if kind == "shm":
        return f"shm://{name}"
    if kind == "fifo":
        return f"fifo://{_RUNTIME_DIR}/{name}.fifo"
    if kind == "bare":
        return name
    if kind == "abstract":
        return f"unix:@libipc-pytest-{name}"
    raise AssertionError(kind)


@pytest.fixture
def make_endpoint() -> Callable[[str], str]:
    return listen_endpoint


@contextmanager
def channel_pair(
    kind: str, listen_opts: dict[str, object] | None = None, **connect_opts: object
) -> Iterator[tuple[libipc.Channel, libipc.Channel]]:
    """(server side, client side) of one channel, in this process. The client connects from
    another thread while this one accepts (both calls release the GIL)."""
    with libipc.listen(listen_endpoint(kind), **(listen_opts or {})) as listener:
        box: dict[str, object] = {}

        def connect() -> None:
            try:
                box["ch"] = libipc.connect(listener.endpoint, timeout=30, **connect_opts)
            except BaseException as e:  # noqa: BLE001 - re-raised below
                box["err"] = e

        t = threading.Thread(target=connect)
        t.start()
        try:
            server = listener.accept(timeout=30)
        finally:
            t.join()
        if "err" in box:
            server.close()
            raise box["err"]  # type: ignore[misc]
        client = box["ch"]
        assert isinstance(client, libipc.Channel)
    try:
        yield server, client
    finally:
        client.close()
        server.close()


@pytest.fixture(params=TRANSPORTS)
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[libipc.Channel, libipc.Channel]]:
    with channel_pair(request.param) as p:
        yield p


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Helper:
    """A helper process (tests/helper.py): its own modes print "ready ..." first (``ready``);
    the interop contract's server prints "READY <endpoint>" (``contract_ready``).

    helper.py sets its own SIGINT handler first thing (it may inherit SIGINT ignored)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(HELPER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        self.pid = self.proc.pid

    def readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise AssertionError(f"helper exited early ({self.proc.wait()}): {err}")
        return line.rstrip("\n")

    def ready(self) -> list[str]:
        """Wait for "ready ..." and return its words after "ready"."""
        line = self.readline()
        assert line.startswith("ready"), line
        return line.split()[1:]

    def contract_ready(self) -> str:
        """The interop contract's server (tests/interop/README.md): wait for its
        "READY <endpoint>" line and return the endpoint."""
        line = self.readline()
        assert line.startswith("READY "), line
        return line.removeprefix("READY ")

    def stop(self) -> None:
        """Stop a contract server: close its stdin; it exits 0 and printed nothing more on
        stdout (the watchdog bounds the wait)."""
        code, out, err = self.finish()
        assert code == 0, err
        assert out == "", out

    def finish(self) -> tuple[int, str, str]:
        """Close its stdin and wait for the process to exit (the watchdog bounds the wait)."""
        out, err = self.proc.communicate()
        return self.proc.returncode, out.decode(), err.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        self.kill()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in this process while the test runs, whatever the
    disposition pytest inherited (a test run from a background job, under nohup or without a
    terminal starts with SIGINT ignored, and then Python installs no handler)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@pytest.fixture
def helper() -> Iterator[Callable[..., Helper]]:
    started: list[Helper] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Helper:
        h = Helper(*args, env=env)
        started.append(h)
        return h

    yield start
    for h in started:
        h.close()


def ipc_binary() -> str:
    """The Rust `ipc` CLI: $LIBIPC_IPC_BIN, else target/release/ipc (built with cargo if
    missing)."""
    path = os.environ.get("LIBIPC_IPC_BIN") or str(REPO / "target" / "release" / "ipc")
    if not os.access(path, os.X_OK):
        if shutil.which("cargo") is None:
            pytest.skip("the ipc CLI is not built and cargo is not available")
        subprocess.run(
            ["cargo", "build", "--release", "-p", "libipc-cli", "--bin", "ipc"],
            cwd=REPO,
            check=True,
        )
    return path


@pytest.fixture(scope="session")
def ipc_bin() -> str:
    return ipc_binary()


@pytest.fixture(scope="session")
def test_peer_bin() -> str:
    """The Rust test peer (tests/src/bin/peer.rs): $LIBIPC_TEST_PEER_BIN, else
    target/release/ipc-test-peer (built with cargo if missing)."""
    path = os.environ.get("LIBIPC_TEST_PEER_BIN") or str(REPO / "target" / "release" / "ipc-test-peer")
    if not os.access(path, os.X_OK):
        if shutil.which("cargo") is None:
            pytest.fail("the Rust ipc-test-peer is not built and cargo is not available")
        subprocess.run(
            ["cargo", "build", "--release", "-p", "libipc-conformance", "--bin", "ipc-test-peer"],
            cwd=REPO,
            check=True,
        )
    return path


class Proc:
    """A background process whose stderr/stdout go to files; killed at the end."""

    def __init__(self, args: list[str], tmp: Path) -> None:
        n = next(_counter)
        self.out_path = tmp / f"p{n}.out"
        self.err_path = tmp / f"p{n}.err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=self._err)

    def err_lines(self) -> list[str]:
        """The complete lines on stderr so far. A line still being written is left out: Rust's
        unbuffered stderr writes a formatted line in pieces (`listening on ` and then the
        endpoint), and a reader in between must not take the first piece for the line."""
        text = self.err_path.read_text()
        return text[: text.rfind("\n") + 1].splitlines()

    def out(self) -> str:
        return self.out_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._out.close()
        self._err.close()


@pytest.fixture
def background(tmp_path: Path) -> Iterator[Callable[[list[str]], Proc]]:
    started: list[Proc] = []

    def start(args: list[str]) -> Proc:
        p = Proc(args, tmp_path)
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()
