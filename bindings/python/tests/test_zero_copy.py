"""Zero copy: recv_view (MessageView) and reserve (SendBuffer), over shm (in the ring) and over
the socket transports (private buffers)."""

from __future__ import annotations

import os
import threading

import pytest

import libipc
from conftest import channel_pair

KINDS = ["shm", "unix", "tcp"]


@pytest.fixture(params=KINDS)
def zpair(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    with channel_pair(request.param) as p:
        yield p


def test_recv_view_reads_in_place(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    payload = os.urandom(5000)
    client.send(payload)
    view = server.recv_view(timeout=30)
    assert isinstance(view, libipc.MessageView)
    assert len(view) == 5000
    with memoryview(view) as mv:
        assert mv.readonly
        assert mv.nbytes == 5000 and mv.format == "B"
        assert mv == payload
        assert mv[10:20].tobytes() == payload[10:20]
    assert bytes(view) == payload
    assert view.tobytes() == payload
    view.release()


def test_recv_view_with_block_and_order(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    for i in range(50):
        client.send(b"msg %d" % i)
    for i in range(50):
        with server.recv_view(timeout=30) as view, memoryview(view) as data:
            assert data == b"msg %d" % i
    assert server.try_recv() is None


def test_recv_view_empty_message(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    client.send(b"")
    with server.recv_view(timeout=30) as view:
        assert len(view) == 0 and bytes(view) == b""


def test_recv_view_release_frees_ring_space() -> None:
    # A 64 KiB ring: without giving the space back, 100 messages of 4 KiB could not pass.
    with channel_pair("shm", {"shm_ring_size": 1 << 16}) as (server, client):
        def send() -> None:
            for i in range(100):
                client.send(bytes([i % 256]) * 4096)

        t = threading.Thread(target=send)
        t.start()
        for i in range(100):
            view = server.recv_view(timeout=30)
            with memoryview(view) as mv:
                assert mv[0] == i % 256 and len(mv) == 4096
            view.release()
        t.join()


def test_release_while_memoryview_alive_is_buffer_error(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    client.send(b"keep me")
    client.send(b"next")
    view = server.recv_view(timeout=30)
    mv = memoryview(view)
    with pytest.raises(BufferError):
        view.release()
    with pytest.raises(BufferError):
        with view:
            pass
    # still readable, and released once the memoryview is
    assert mv == b"keep me"
    mv.release()
    view.release()
    assert server.recv(timeout=30) == b"next"


def test_view_after_release(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    client.send(b"gone")
    view = server.recv_view(timeout=30)
    view.release()
    view.release()  # twice is fine
    with pytest.raises(ValueError):
        memoryview(view)
    with pytest.raises(ValueError):
        bytes(view)
    with pytest.raises(ValueError):
        len(view)


def test_recv_view_timeout_and_closed(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    with pytest.raises(TimeoutError):
        server.recv_view(timeout=0.02)
    client.close()
    with pytest.raises(EOFError):
        server.recv_view(timeout=30)


def test_recv_view_gets_a_message_kept_by_recv_into(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    client.send(b"0123456789")
    with pytest.raises(libipc.BufferTooSmallError):
        server.recv_into(bytearray(3))
    with server.recv_view(timeout=30) as view:
        assert bytes(view) == b"0123456789"


def test_dropping_an_unreleased_view_gives_the_space_back() -> None:
    with channel_pair("shm", {"shm_ring_size": 1 << 16}) as (server, client):
        def send() -> None:
            for _ in range(40):
                client.send(bytes(8000))

        t = threading.Thread(target=send)
        t.start()
        for _ in range(40):
            view = server.recv_view(timeout=30)
            assert len(view) == 8000
            del view  # garbage: released
        t.join()


def test_reserve_commit(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    buf = client.reserve(11, timeout=30)
    assert isinstance(buf, libipc.SendBuffer)
    assert len(buf) == 11
    with memoryview(buf) as mv:
        assert not mv.readonly and mv.nbytes == 11
        mv[:] = b"hello world"
    buf.commit()
    assert server.recv(timeout=30) == b"hello world"


def test_reserve_context_manager_commits(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    for i in range(20):
        with client.reserve(4) as buf, memoryview(buf) as mv:
            mv[:] = i.to_bytes(4, "little")
    for i in range(20):
        assert int.from_bytes(server.recv(timeout=30), "little") == i


def test_reserve_abort(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    buf = client.reserve(8)
    with memoryview(buf) as mv:
        mv[:] = b"aborted!"
    buf.abort()
    client.send(b"after abort")
    assert server.recv(timeout=30) == b"after abort"


def test_reserve_exception_aborts(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    with pytest.raises(RuntimeError):
        with client.reserve(5) as buf:
            with memoryview(buf) as mv:
                mv[:] = b"never"
            raise RuntimeError("boom")
    client.send(b"next")
    assert server.recv(timeout=30) == b"next"


def test_reserve_zero_and_large(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    with client.reserve(0) as buf:
        assert len(buf) == 0
    assert server.recv(timeout=30) == b""
    data = os.urandom(100_000)
    with client.reserve(len(data)) as buf, memoryview(buf) as mv:
        mv[:] = data
    assert server.recv(timeout=30) == data


def test_reserve_too_large() -> None:
    with channel_pair("shm", {"max_message_size": 1000}, max_message_size=1000) as (_, client):
        with pytest.raises(libipc.MessageTooLargeError):
            client.reserve(1001)
        with client.reserve(1000):
            pass


def test_commit_with_live_memoryview_is_buffer_error(zpair) -> None:  # type: ignore[no-untyped-def]
    server, client = zpair
    buf = client.reserve(3)
    mv = memoryview(buf)
    mv[:] = b"abc"
    with pytest.raises(BufferError):
        buf.commit()
    with pytest.raises(BufferError):
        buf.abort()
    mv.release()
    buf.commit()
    assert server.recv(timeout=30) == b"abc"


def test_send_buffer_finished(zpair) -> None:  # type: ignore[no-untyped-def]
    _, client = zpair
    buf = client.reserve(1)
    buf.abort()
    with pytest.raises(ValueError):
        buf.commit()
    with pytest.raises(ValueError):
        memoryview(buf)


def test_view_and_buffer_through_send(zpair) -> None:  # type: ignore[no-untyped-def]
    # a MessageView is a buffer: it can be sent on as it is (an in-place relay)
    server, client = zpair
    client.send(b"relay")
    with server.recv_view(timeout=30) as view:
        server.send(view)
    assert client.recv(timeout=30) == b"relay"


def test_reserve_shm_waits_for_room_and_times_out() -> None:
    with channel_pair("shm", {"shm_ring_size": 1 << 16}) as (server, client):
        sent = 0
        with pytest.raises(TimeoutError):
            while True:  # the reader reads nothing; the ring fills (the watchdog bounds it)
                with client.reserve(8192, timeout=0.1) as buf, memoryview(buf) as mv:
                    mv[:1] = bytes([sent % 256])
                sent += 1
        for i in range(sent):
            with server.recv_view(timeout=30) as view:
                assert len(view) == 8192 and memoryview(view)[0] == i % 256
