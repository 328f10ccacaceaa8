"""The blocking API of the README: listen/connect/accept, send/recv/try_recv/recv_into,
iteration, context managers, peer, options."""

from __future__ import annotations

import array
import os
import threading
import time

import pytest

import libipc
from conftest import ALL_TRANSPORTS, CRED_TRANSPORTS, TRANSPORTS, channel_pair, listen_endpoint


def test_version() -> None:
    assert isinstance(libipc.__version__, str)
    parts = libipc.__version__.split(".")
    assert len(parts) >= 2 and all(p.isdigit() for p in parts[:2]), libipc.__version__


def test_public_names() -> None:
    for name in ("listen", "connect", "Listener", "Channel", "Error", "MessageView",
                 "SendBuffer", "Peer"):
        assert hasattr(libipc, name), name
    from libipc import aio

    for name in ("listen", "connect", "AsyncListener", "AsyncChannel"):
        assert hasattr(aio, name), name


@pytest.mark.parametrize("kind", ALL_TRANSPORTS)
def test_round_trip_every_transport(kind: str) -> None:
    with channel_pair(kind) as (server, client):
        client.send(b"ping")
        assert server.recv(timeout=30) == b"ping"
        server.send(b"pong")
        assert client.recv(timeout=30) == b"pong"


def test_bare_name_connects_by_name() -> None:
    name = listen_endpoint("bare")
    with libipc.listen(name) as listener:
        got: list[libipc.Channel] = []
        t = threading.Thread(target=lambda: got.append(listener.accept(timeout=30)))
        t.start()
        with libipc.connect(name, timeout=30) as ch:
            t.join()
            with got[0] as server:
                ch.send(b"by name")
                assert server.recv(timeout=30) == b"by name"
        sock = os.path.join(os.environ["LIBIPC_RUNTIME_DIR"], name + ".sock")
        assert os.path.exists(sock)


def test_listener_endpoint_reports_real_tcp_port() -> None:
    with libipc.listen("tcp://127.0.0.1:0") as listener:
        ep = listener.endpoint
        assert ep.startswith("tcp://127.0.0.1:")
        assert int(ep.rsplit(":", 1)[1]) > 0


@pytest.mark.parametrize("kind", ["unix", "shm", "bare"])
def test_listener_endpoint_echoes_the_string(kind: str) -> None:
    ep = listen_endpoint(kind)
    with libipc.listen(ep) as listener:
        assert listener.endpoint == ep


def test_send_accepts_any_buffer(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    payloads = [
        b"bytes",
        bytearray(b"bytearray"),
        memoryview(b"xxmemoryviewxx")[2:-2],
        array.array("i", [1, 2, 3, -1]),
        memoryview(bytearray(b"writable")),
    ]
    for p in payloads:
        client.send(p)
    assert server.recv(timeout=30) == b"bytes"
    assert server.recv(timeout=30) == b"bytearray"
    assert server.recv(timeout=30) == b"memoryview"
    assert server.recv(timeout=30) == array.array("i", [1, 2, 3, -1]).tobytes()
    assert server.recv(timeout=30) == b"writable"


def test_send_rejects_non_buffers(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    _, client = pair
    for bad in ("text", 42, None, [1, 2]):
        with pytest.raises(TypeError):
            client.send(bad)  # type: ignore[arg-type]


def test_send_non_contiguous_buffer(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    strided = memoryview(b"a-b-c-")[::2]
    try:
        client.send(strided)
    except (BufferError, TypeError, ValueError):
        return  # refused: the README promises C-contiguous buffers only
    assert server.recv(timeout=30) == b"abc"


def test_empty_and_large_messages(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    big = os.urandom(3 * 1024 * 1024 + 7)  # more than half a default shm ring: fragments
    client.send(b"")
    assert server.recv(timeout=30) == b""
    t = threading.Thread(target=client.send, args=(big,))
    t.start()
    assert server.recv(timeout=60) == big
    t.join()


def test_recv_returns_bytes(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    client.send(bytearray(b"x"))
    got = server.recv()
    assert type(got) is bytes and got == b"x"


def test_order_both_directions(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    n = 500

    def send(ch: libipc.Channel, base: int) -> None:
        for i in range(n):
            ch.send((base + i).to_bytes(4, "little"))

    # Senders in threads: a side that sends without reading fills the socket buffers.
    ts = [threading.Thread(target=send, args=(client, 0)),
          threading.Thread(target=send, args=(server, 1000))]
    for t in ts:
        t.start()
    assert [int.from_bytes(server.recv(timeout=30), "little") for _ in range(n)] == list(range(n))
    assert [int.from_bytes(client.recv(timeout=30), "little") for _ in range(n)] == list(
        range(1000, 1000 + n)
    )
    for t in ts:
        t.join()


def test_try_recv(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    assert server.try_recv() is None
    client.send(b"one")
    client.send(b"two")
    # try_recv does not wait: a message may still be in flight, so poll (bounded by the
    # watchdog) for the first; once it is there, both are.
    got = None
    while got is None:
        got = server.try_recv()
    assert got == b"one"
    assert server.recv(timeout=30) == b"two"
    assert server.try_recv() is None


def test_recv_into(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    client.send(b"hello")
    buf = bytearray(16)
    n = server.recv_into(buf)
    assert n == 5 and buf[:5] == b"hello" and buf[5:] == bytes(11)
    client.send(b"abc")
    arr = array.array("B", bytes(8))
    assert server.recv_into(arr, timeout=30) == 3
    assert arr.tobytes()[:3] == b"abc"
    client.send(b"")
    assert server.recv_into(bytearray(1), timeout=30) == 0
    client.send(b"xyz")
    mv = memoryview(bytearray(10))[4:]
    assert server.recv_into(mv) == 3 and mv[:3] == b"xyz"


def test_recv_into_exact_size(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    client.send(b"12345678")
    buf = bytearray(8)
    assert server.recv_into(buf) == 8 and buf == b"12345678"


def test_recv_into_too_small_keeps_message(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    client.send(b"0123456789")
    client.send(b"next")
    small = bytearray(4)
    with pytest.raises(libipc.BufferTooSmallError) as info:
        server.recv_into(small, timeout=30)
    assert info.value.needed == 10
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, libipc.Error)
    # Kept for the next receive, ahead of the one behind it, for every kind of receive.
    with pytest.raises(libipc.BufferTooSmallError):
        server.recv_into(bytearray(9))
    big = bytearray(64)
    assert server.recv_into(big) == 10 and big[:10] == b"0123456789"
    with pytest.raises(libipc.BufferTooSmallError):
        server.recv_into(bytearray(3))
    assert server.recv() == b"next"


def test_recv_into_too_small_then_recv(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    client.send(b"0123456789")
    with pytest.raises(libipc.BufferTooSmallError):
        server.recv_into(bytearray(2))
    assert server.recv(timeout=30) == b"0123456789"


def test_recv_into_readonly_buffer(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    client.send(b"abc")
    # The README does not name the error; the extension raises InvalidArgumentError (a
    # ValueError) where socket.recv_into raises TypeError.
    with pytest.raises((TypeError, BufferError, ValueError)):
        server.recv_into(b"readonly")  # type: ignore[arg-type]
    assert server.recv(timeout=30) == b"abc"


def test_iteration_ends_when_peer_closes(transport: str) -> None:
    with channel_pair(transport) as (server, client):
        for i in range(5):
            client.send(b"m%d" % i)
        client.close()
        assert list(server) == [b"m%d" % i for i in range(5)]


def test_iteration_in_another_thread(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    got: list[bytes] = []
    t = threading.Thread(target=lambda: got.extend(server))
    t.start()
    for i in range(100):
        client.send(str(i).encode())
    client.close()
    t.join()
    assert got == [str(i).encode() for i in range(100)]


def test_context_managers_close(transport: str) -> None:
    ep = listen_endpoint(transport)
    with libipc.listen(ep) as listener:
        real = listener.endpoint
        done: list[libipc.Channel] = []
        t = threading.Thread(target=lambda: done.append(listener.accept(timeout=30)))
        t.start()
        with libipc.connect(real, timeout=30) as ch:
            t.join()
            server = done[0]
            with server:
                ch.send(b"x")
                assert server.recv(timeout=30) == b"x"
            # the server side is closed by its with block
            with pytest.raises(libipc.ClosedError):
                server.recv(timeout=1)
            with pytest.raises(EOFError):
                server.send(b"y")
            # the client sees the orderly close
            with pytest.raises(libipc.ClosedError):
                ch.recv(timeout=30)
        with pytest.raises(libipc.ClosedError):
            ch.send(b"after close")
    with pytest.raises(libipc.ClosedError):
        listener.accept(timeout=1)


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_connect_after_listener_close_is_not_found(kind: str) -> None:
    for _ in range(20):
        with libipc.listen(listen_endpoint(kind)) as listener:
            real = listener.endpoint
            box: list[libipc.Channel] = []
            t = threading.Thread(target=lambda: box.append(listener.accept(timeout=30)))
            t.start()
            with libipc.connect(real, timeout=30):
                t.join()
                box[0].close()
        # closed: nobody listens there any more
        with pytest.raises(libipc.NotFoundError):
            libipc.connect(real, timeout=5).close()


def test_close_is_idempotent(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    server, client = pair
    client.close()
    client.close()
    with pytest.raises(EOFError):
        client.recv()
    with pytest.raises(EOFError):
        client.try_recv()
    with pytest.raises(EOFError):
        client.recv_into(bytearray(4))


def test_close_from_another_thread_wakes_recv(transport: str) -> None:
    with channel_pair(transport) as (server, client):
        errors: list[BaseException] = []

        def blocked() -> None:
            try:
                server.recv()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=blocked)
        t.start()
        time.sleep(0.2)  # let it block (not a bound: either order must end in ClosedError)
        server.close()
        t.join()
        assert len(errors) == 1 and isinstance(errors[0], libipc.ClosedError), errors


def test_listener_iteration_and_close(transport: str) -> None:
    listener = libipc.listen(listen_endpoint(transport))
    accepted: list[libipc.Channel] = []

    def serve() -> None:
        for ch in listener:
            accepted.append(ch)

    t = threading.Thread(target=serve)
    t.start()
    clients = [libipc.connect(listener.endpoint, timeout=30) for _ in range(3)]
    for i, c in enumerate(clients):
        c.send(b"%d" % i)
    while len(accepted) < 3:  # the watchdog bounds this
        time.sleep(0.01)
    listener.close()  # ends the iteration
    t.join()
    got = sorted(ch.recv(timeout=30) for ch in accepted)
    assert got == [b"0", b"1", b"2"]
    for ch in clients + accepted:
        ch.close()


def test_listener_fileno_readable_when_a_client_waits(transport: str) -> None:
    import select

    with libipc.listen(listen_endpoint(transport)) as listener:
        fd = listener.fileno()
        assert isinstance(fd, int) and fd >= 0
        r, _, _ = select.select([fd], [], [], 0)
        assert r == []
        box: list[libipc.Channel] = []
        t = threading.Thread(target=lambda: box.append(libipc.connect(listener.endpoint, timeout=30)))
        t.start()
        r, _, _ = select.select([fd], [], [])
        assert r == [fd]
        with listener.accept(timeout=30):
            t.join()
            box[0].close()


def test_channel_fileno_readiness(pair: tuple[libipc.Channel, libipc.Channel]) -> None:
    import select

    server, client = pair
    fd = server.fileno()
    assert isinstance(fd, int) and fd >= 0
    while server.try_recv() is not None:
        pass
    client.send(b"ready?")
    select.select([fd], [], [])  # readable once a message is there (the watchdog bounds it)
    got = None
    while got is None:
        got = server.try_recv()
    assert got == b"ready?"


@pytest.mark.parametrize("kind", CRED_TRANSPORTS)
def test_peer_in_process(kind: str) -> None:
    with channel_pair(kind) as (server, client):
        for ch in (server, client):
            p = ch.peer
            assert p.pid == os.getpid()
            assert p.uid == os.getuid()
            assert p.gid == os.getgid()


def test_peer_over_tcp_is_unknown() -> None:
    with channel_pair("tcp") as (server, client):
        for ch in (server, client):
            p = ch.peer
            assert (p.pid, p.uid, p.gid) == (None, None, None)


def test_max_message_size_attribute() -> None:
    with channel_pair("unix", {"max_message_size": 1000}, max_message_size=2000) as (s, c):
        assert isinstance(s.max_message_size, int)
        assert isinstance(c.max_message_size, int)
    with channel_pair("unix") as (s, c):
        assert s.max_message_size == 16 * 1024 * 1024
        assert c.max_message_size == 16 * 1024 * 1024


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_too_large_message(kind: str) -> None:
    with channel_pair(kind, {"max_message_size": 1024}, max_message_size=1024) as (s, c):
        with pytest.raises(libipc.MessageTooLargeError) as info:
            c.send(bytes(1025))
        assert isinstance(info.value, ValueError)
        c.send(bytes(1024))  # at the limit: fine, and the channel still works
        assert s.recv(timeout=30) == bytes(1024)


def test_receiver_limit_applies_to_sender() -> None:
    # The listener accepts at most 100 bytes; the client learns it in the handshake.
    with channel_pair("unix", {"max_message_size": 100}) as (s, c):
        with pytest.raises(ValueError):
            c.send(bytes(101))
        c.send(bytes(100))
        assert s.recv(timeout=30) == bytes(100)


def test_options_keywords_accepted() -> None:
    ep = listen_endpoint("shm")
    with libipc.listen(
        ep,
        max_message_size=1 << 20,
        socket_mode=0o600,
        handshake_timeout=2.0,
        allowed_uids=[os.getuid()],
        shm_ring_size=1 << 16,
        shm_spin=0.0,
    ) as listener:
        box: list[libipc.Channel] = []
        t = threading.Thread(target=lambda: box.append(listener.accept(timeout=30)))
        t.start()
        with libipc.connect(
            listener.endpoint,
            timeout=None,
            max_message_size=1 << 20,
            connect_timeout=5.0,
            handshake_timeout=5.0,
            allowed_uids=[os.getuid()],
            shm_spin=1e-5,
        ) as ch:
            t.join()
            with box[0] as server:
                ch.send(b"options")
                assert server.recv(timeout=30) == b"options"


def test_socket_mode_applies() -> None:
    ep = listen_endpoint("unix")
    with libipc.listen(ep, socket_mode=0o640):
        path = ep[len("unix://"):]
        assert os.stat(path).st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    "opts",
    [
        {"max_message_size": 1 << 33},
        {"socket_mode": 0o1777},
        {"shm_ring_size": 1000},
        {"shm_ring_size": 1 << 12},
        {"handshake_timeout": 0.0},
    ],
)
def test_bad_listen_options(opts: dict[str, object]) -> None:
    with pytest.raises(libipc.InvalidArgumentError) as info:
        libipc.listen(listen_endpoint("shm"), **opts)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert info.value.code == 13 and info.value.kind == "InvalidArgument"


@pytest.mark.parametrize("opts", [{"connect_timeout": 0.0}, {"max_message_size": 1 << 33}])
def test_bad_connect_options(opts: dict[str, object]) -> None:
    with libipc.listen(listen_endpoint("unix")) as listener:
        with pytest.raises(ValueError):
            libipc.connect(listener.endpoint, **opts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "opts",
    [
        {"no_such_option": 1},
        {"max_message_size": "big"},
        {"allowed_uids": "root"},
        {"allowed_gids": "wheel"},
        {"allowed_gids": 0},
        {"handshake_timeout": "soon"},
    ],
)
def test_bad_option_types(opts: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        libipc.listen(listen_endpoint("unix"), **opts)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        libipc.connect(listen_endpoint("unix"), **opts)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1.0, float("inf"), float("nan")])
def test_bad_seconds_rejected(bad: float) -> None:
    with pytest.raises(libipc.InvalidArgumentError):
        libipc.listen(listen_endpoint("unix"), handshake_timeout=bad)
    with pytest.raises(libipc.InvalidArgumentError):
        libipc.listen(listen_endpoint("shm"), shm_spin=bad)
    with libipc.listen(listen_endpoint("unix")) as listener:
        with pytest.raises(libipc.InvalidArgumentError):
            libipc.connect(listener.endpoint, timeout=bad)
        with pytest.raises(libipc.InvalidArgumentError):
            listener.accept(timeout=bad)
    with channel_pair("unix") as (server, client):
        with pytest.raises(libipc.InvalidArgumentError):
            server.recv(timeout=bad)
        with pytest.raises(libipc.InvalidArgumentError):
            client.send(b"x", timeout=bad)
        client.send(b"still fine")
        assert server.recv(timeout=30) == b"still fine"


@pytest.mark.parametrize(
    "opts",
    [
        {"socket_mode": -1},
        {"max_message_size": -1},
        {"allowed_uids": [-1]},
        {"allowed_gids": [-1]},
        {"allowed_gids": [1 << 32]},
    ],
)
def test_negative_integer_options(opts: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        libipc.listen(listen_endpoint("unix"), **opts)  # type: ignore[arg-type]


def test_allowed_uids_over_tcp_refused() -> None:
    with pytest.raises(libipc.InvalidArgumentError):
        libipc.listen("tcp://127.0.0.1:0", allowed_uids=[os.getuid()])
    with libipc.listen("tcp://127.0.0.1:0") as listener:
        with pytest.raises(libipc.InvalidArgumentError):
            libipc.connect(listener.endpoint, allowed_uids=[os.getuid()])


def test_allowed_gids_over_tcp_refused() -> None:
    with pytest.raises(libipc.InvalidArgumentError) as info:
        libipc.listen("tcp://127.0.0.1:0", allowed_gids=[os.getgid()])
    assert "allowed_gids" in str(info.value)
    with libipc.listen("tcp://127.0.0.1:0") as listener:
        with pytest.raises(libipc.InvalidArgumentError):
            libipc.connect(listener.endpoint, allowed_gids=[os.getgid()])


@pytest.mark.parametrize("kind", ["unix", "shm"])
def test_allowed_gids_on_both_sides(kind: str) -> None:
    """A gid list naming only a group we are not in refuses us, on either side; one naming our
    primary gid admits us."""
    ours = set(os.getgroups()) | {os.getgid()}
    other = max(ours) + 12345
    with libipc.listen(listen_endpoint(kind), allowed_gids=[other]) as listener:
        with pytest.raises(libipc.PermissionDeniedError) as info:
            libipc.connect(listener.endpoint, timeout=30)
        assert f"uid {os.getuid()}" in str(info.value)
    with libipc.listen(listen_endpoint(kind), allowed_gids=[os.getgid()]) as listener:
        with pytest.raises(libipc.PermissionDeniedError):
            libipc.connect(listener.endpoint, timeout=30, allowed_gids=[other])
        box: list[libipc.Channel] = []
        t = threading.Thread(target=lambda: box.append(listener.accept(timeout=30)))
        t.start()
        with libipc.connect(listener.endpoint, timeout=30, allowed_gids=[os.getgid()]) as ch:
            t.join()
            with box[0] as server:
                ch.send(b"group")
                assert server.recv(timeout=30) == b"group"


@pytest.mark.parametrize("kind", ["unix", "shm"])
def test_listener_allowed_uids_refuses_us(kind: str) -> None:
    other = os.getuid() + 12345
    with libipc.listen(listen_endpoint(kind), allowed_uids=[other]) as listener:
        # (the listener refuses in the background; nobody needs to call accept)
        with pytest.raises(PermissionError) as info:
            libipc.connect(listener.endpoint, timeout=30)
        with pytest.raises(TimeoutError):
            listener.accept(timeout=0.05)  # the refused client is never accepted
        assert isinstance(info.value, libipc.PermissionDeniedError)
        assert info.value.code == 4


@pytest.mark.parametrize("kind", ["unix", "shm"])
def test_client_allowed_uids_refuses_server(kind: str) -> None:
    other = os.getuid() + 12345
    with libipc.listen(listen_endpoint(kind)) as listener:
        with pytest.raises(libipc.PermissionDeniedError):
            libipc.connect(listener.endpoint, timeout=30, allowed_uids=[other])
        # allowed: our own uid
        libipc.connect(listener.endpoint, timeout=30, allowed_uids=[os.getuid()]).close()
