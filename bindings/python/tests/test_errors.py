"""Errors: the class table of the README and the builtins each error also is."""

from __future__ import annotations

import os
import socket
import threading

import pytest

import libipc
from conftest import TRANSPORTS, channel_pair, listen_endpoint

TABLE = [
    ("InvalidEndpointError", (ValueError,), 1, "InvalidEndpoint"),
    ("AddressInUseError", (OSError,), 2, "AddressInUse"),
    ("NotFoundError", (FileNotFoundError, ConnectionRefusedError), 3, "NotFound"),
    ("PermissionDeniedError", (PermissionError,), 4, "PermissionDenied"),
    ("PeerDisconnectedError", (BrokenPipeError, ConnectionError), 5, "PeerDisconnected"),
    ("TimeoutError", (TimeoutError,), 6, "Timeout"),
    ("MessageTooLargeError", (ValueError,), 7, "MessageTooLarge"),
    ("ProtocolMismatchError", (ConnectionError,), 8, "ProtocolMismatch"),
    ("ProtocolViolationError", (ConnectionError,), 9, "ProtocolViolation"),
    ("ClosedError", (EOFError,), 10, "Closed"),
    ("IoError", (OSError,), 11, "Io"),
    ("UnsupportedError", (NotImplementedError,), 12, "Unsupported"),
    ("InvalidArgumentError", (ValueError,), 13, "InvalidArgument"),
]


@pytest.mark.parametrize("name,builtins,code,kind", TABLE)
def test_error_classes(name: str, builtins: tuple[type, ...], code: int, kind: str) -> None:
    cls = getattr(libipc, name)
    assert issubclass(cls, libipc.Error)
    assert issubclass(libipc.Error, Exception)
    for b in builtins:
        assert issubclass(cls, b), (name, b)
    assert cls.code == code
    assert cls.kind == kind


def test_buffer_too_small_class() -> None:
    assert issubclass(libipc.BufferTooSmallError, libipc.Error)
    assert issubclass(libipc.BufferTooSmallError, ValueError)


def test_libipc_timeout_is_the_builtin_subclass() -> None:
    assert libipc.TimeoutError is not TimeoutError
    assert issubclass(libipc.TimeoutError, TimeoutError)


@pytest.mark.parametrize(
    "ep", ["", "nope://x", "unix://relative.sock", "unix:///", "tcp://host", "-bad", "a/b",
           "tcp://127.0.0.1:99999", "x" * 200, "unix://" + "/x" * 80]
)
def test_invalid_endpoint(ep: str) -> None:
    with pytest.raises(ValueError) as info:
        libipc.listen(ep)
    assert isinstance(info.value, libipc.InvalidEndpointError), repr(info.value)
    assert info.value.code == 1
    with pytest.raises(libipc.InvalidEndpointError):
        libipc.connect(ep, timeout=1)


def test_nul_in_endpoint() -> None:
    with pytest.raises(ValueError):
        libipc.listen("a\0b")


def test_endpoint_must_be_str() -> None:
    with pytest.raises(TypeError):
        libipc.listen(b"name")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        libipc.connect(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["unix", "shm", "bare", "abstract"])
def test_nobody_listens(kind: str) -> None:
    ep = listen_endpoint(kind)
    with pytest.raises(FileNotFoundError) as info:
        libipc.connect(ep, timeout=5)
    assert isinstance(info.value, libipc.NotFoundError)
    assert isinstance(info.value, ConnectionRefusedError)
    assert info.value.code == 3 and info.value.kind == "NotFound"
    try:
        libipc.connect(ep, timeout=5)
    except ConnectionRefusedError:
        pass  # an ordinary except clause


def test_nobody_listens_tcp() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionRefusedError) as info:
        libipc.connect(f"tcp://127.0.0.1:{port}", timeout=5)
    assert isinstance(info.value, libipc.NotFoundError)


@pytest.mark.parametrize("kind", ["unix", "shm", "bare", "abstract", "tcp", "fifo"])
def test_address_in_use(kind: str) -> None:
    with libipc.listen(listen_endpoint(kind)) as listener:
        with pytest.raises(OSError) as info:
            libipc.listen(listener.endpoint)
        assert isinstance(info.value, libipc.AddressInUseError)
        assert info.value.code == 2


def test_not_a_socket_is_address_in_use(tmp_path: object) -> None:
    path = os.path.join(os.environ["LIBIPC_RUNTIME_DIR"], "plainfile")
    with open(path, "w"):
        pass
    try:
        with pytest.raises(libipc.AddressInUseError):
            libipc.listen("unix://" + path)
    finally:
        os.unlink(path)


def test_runtime_dir_not_private(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    d = tempfile.mkdtemp(prefix="ipcbad-")
    os.chmod(d, 0o755)
    monkeypatch.setenv("LIBIPC_RUNTIME_DIR", d)
    try:
        with pytest.raises(PermissionError) as info:
            libipc.listen("name")
        assert isinstance(info.value, libipc.PermissionDeniedError)
    finally:
        os.rmdir(d)


def test_unsupported_pipe() -> None:
    with pytest.raises(NotImplementedError) as info:
        libipc.listen("pipe://x")
    assert isinstance(info.value, libipc.UnsupportedError)


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_timeouts(kind: str) -> None:
    with channel_pair(kind) as (server, client):
        with pytest.raises(TimeoutError) as info:
            server.recv(timeout=0.05)
        assert isinstance(info.value, libipc.TimeoutError)
        assert info.value.code == 6
        with pytest.raises(TimeoutError):
            server.recv_into(bytearray(8), timeout=0.01)
        with pytest.raises(TimeoutError):
            server.recv(timeout=0)
        # nothing was lost: the channel works on
        client.send(b"after")
        assert server.recv(timeout=30) == b"after"


def test_accept_timeout(transport: str) -> None:
    with libipc.listen(listen_endpoint(transport)) as listener:
        with pytest.raises(TimeoutError):
            listener.accept(timeout=0.05)


def test_send_timeout_when_peer_does_not_read(transport: str) -> None:
    opts = {"shm_ring_size": 1 << 16} if transport == "shm" else {}
    with channel_pair(transport, opts) as (server, client):
        chunk = bytes(32 * 1024)
        sent = 0
        with pytest.raises(TimeoutError):
            while True:  # the peer reads nothing: buffers fill up (the watchdog bounds it)
                client.send(chunk, timeout=0.2)
                sent += 1
        # the timed-out send delivered nothing partial and lost nothing sent before it. (The
        # reader runs while close() waits for room: close gives up after the handshake
        # timeout on a peer that does not read, documented as PeerDisconnected.)
        got: list[bytes] = []
        t = threading.Thread(target=lambda: got.extend(server))
        t.start()
        client.close()
        t.join()
        assert len(got) == sent and all(m == chunk for m in got)


def test_error_attributes_and_message() -> None:
    with pytest.raises(libipc.Error) as info:
        libipc.connect(listen_endpoint("unix"), timeout=1)
    e = info.value
    assert isinstance(e.kind, str) and isinstance(e.code, int)
    assert str(e)  # a message for humans


def test_closed_error_after_local_close(transport: str) -> None:
    with channel_pair(transport) as (server, client):
        client.close()
        for call in (lambda: client.recv(), lambda: client.send(b"x"), client.try_recv,
                     lambda: client.recv_into(bytearray(1))):
            with pytest.raises(EOFError) as info:
                call()
            assert isinstance(info.value, libipc.ClosedError) and info.value.code == 10


def test_peer_close_then_send(transport: str) -> None:
    with channel_pair(transport) as (server, client):
        client.close()
        with pytest.raises(EOFError):
            server.recv(timeout=30)
        # sending to a peer that closed in order: an error (never a hang)
        with pytest.raises((EOFError, ConnectionError)):
            for _ in range(10000):
                server.send(b"x" * 1024)


def test_errors_caught_by_builtin_except(transport: str) -> None:
    with channel_pair(transport) as (server, _):
        try:
            server.recv(timeout=0.01)
        except TimeoutError:
            caught = True
        assert caught


def test_threads_share_a_channel(transport: str) -> None:
    with channel_pair(transport) as (server, client):
        n, senders = 500, 4
        def send(k: int) -> None:
            for i in range(n):
                client.send(b"%d:%d" % (k, i))

        ts = [threading.Thread(target=send, args=(k,)) for k in range(senders)]
        for t in ts:
            t.start()
        got = [server.recv(timeout=30) for _ in range(n * senders)]
        for t in ts:
            t.join()
        per: dict[bytes, list[int]] = {}
        for m in got:
            k, i = m.split(b":")
            per.setdefault(k, []).append(int(i))
        assert all(v == list(range(n)) for v in per.values()) and len(per) == senders


class RawServer:
    """A Unix socket server that is not libipc: accepts, then stays silent or sends `reply`."""

    def __init__(self, path: str, reply: bytes | None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.path = path
        self.reply = reply
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.conns.append(conn)
        if self.reply is not None:
            conn.sendall(self.reply)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()
        os.unlink(self.path)


def test_silent_server_handshake_timeout() -> None:
    path = os.path.join(os.environ["LIBIPC_RUNTIME_DIR"], "silent.sock")
    srv = RawServer(path, None)
    try:
        with pytest.raises(TimeoutError) as info:
            libipc.connect("unix://" + path, timeout=30, handshake_timeout=0.2)
        assert isinstance(info.value, libipc.TimeoutError)
    finally:
        srv.close()


def test_garbage_server_protocol_violation() -> None:
    path = os.path.join(os.environ["LIBIPC_RUNTIME_DIR"], "garbage.sock")
    srv = RawServer(path, b"HTTP/1.1 400 Bad Request\r\n\r\n" + bytes(64))
    try:
        with pytest.raises(ConnectionError) as info:
            libipc.connect("unix://" + path, timeout=30, handshake_timeout=5)
        assert isinstance(info.value, libipc.ProtocolViolationError), repr(info.value)
        assert info.value.code == 9
    finally:
        srv.close()


def test_silent_client_is_dropped_by_the_listener() -> None:
    # a client that connects and says nothing is dropped after the listener's handshake
    # timeout; the listener keeps serving others
    with libipc.listen(listen_endpoint("unix"), handshake_timeout=0.2) as listener:
        path = listener.endpoint[len("unix://"):]
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(path)
        try:
            while raw.recv(4096):  # the refusal (hello + ERROR frame), then EOF
                pass
        finally:
            raw.close()
        with pytest.raises(TimeoutError):
            listener.accept(timeout=0.05)
        box: list[libipc.Channel] = []
        t = threading.Thread(target=lambda: box.append(listener.accept(timeout=30)))
        t.start()
        with libipc.connect(listener.endpoint, timeout=30) as ch:
            t.join()
            box[0].send(b"still serving")
            assert ch.recv(timeout=30) == b"still serving"
            box[0].close()
