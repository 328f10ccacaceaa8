"""Request/reply: `rpc_listen` / `serve` / `rpc_connect` in this process over every transport,
many calls in flight, error replies (`RemoteError.status`), deadlines, cancellation and late
replies, the refusals between plain channels and request/reply endpoints; the asyncio forms
(concurrent handlers answering out of order, a cancelled call cancelling its handler); and the
Rust request/reply server in another process (`ipc-test-peer rpc-echo-server`)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import libipc
from libipc import aio

from conftest import TRANSPORTS, listen_endpoint


def handler(req: libipc.Request) -> bytes:
    body = req.body
    if body == b"fail":
        raise libipc.RemoteError("no such thing", status=42)
    if body == b"boom":
        raise ValueError("bad input")
    if body.startswith(b"sleep:"):
        time.sleep(int(body[6:]) / 1000)
    return body


@contextmanager
def server(kind: str) -> Iterator[str]:
    """A blocking request/reply server (libipc.serve on a thread); yields its endpoint."""
    srv = libipc.rpc_listen(listen_endpoint(kind))
    t = threading.Thread(target=libipc.serve, args=(srv, handler), daemon=True)
    t.start()
    try:
        yield srv.endpoint
    finally:
        srv.close()
        t.join(timeout=30)
        assert not t.is_alive()


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_calls_and_error_replies(kind: str) -> None:
    with server(kind) as ep, libipc.rpc_connect(ep, timeout=10) as c:
        assert c.call(b"hello") == b"hello"
        assert c.call(bytearray(b"")) == b""
        assert c.call(memoryview(b"x" * 100_000)) == b"x" * 100_000
        with pytest.raises(libipc.RemoteError) as e:
            c.call(b"fail")
        assert e.value.status == 42 and e.value.code == 105
        assert e.value.text == "no such thing"
        with pytest.raises(libipc.RemoteError) as e:
            c.call(b"boom")
        assert e.value.status == libipc.PANIC_STATUS
        assert e.value.text == "ValueError: bad input"
        assert c.call(b"still fine") == b"still fine"
        assert c.in_flight == 0


def test_many_calls_in_flight_and_from_threads() -> None:
    with server("unix") as ep, libipc.rpc_connect(ep) as c:
        pending = [(i, c.start(b"r%d" % i)) for i in range(300)]
        assert c.in_flight == 300
        random.shuffle(pending)
        for i, p in pending:
            assert p.wait(timeout=30) == b"r%d" % i
        results: list[bool] = []

        def worker(t: int) -> None:
            results.extend(c.call(b"%d-%d" % (t, i)) == b"%d-%d" % (t, i) for i in range(200))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [True] * 1600
        assert (c.in_flight, c.late_replies) == (0, 0)


def test_deadlines_cancellation_and_late_replies() -> None:
    with server("unix") as ep, libipc.rpc_connect(ep) as c:
        with pytest.raises(libipc.TimeoutError):
            c.call(b"sleep:200", timeout=0.02)
        assert c.in_flight == 0
        assert c.call(b"next") == b"next"
        assert c.late_replies == 1

        cancel = libipc.Cancel()
        threading.Timer(0.02, cancel.cancel).start()
        with pytest.raises(libipc.CancelledError):
            c.call(b"sleep:200", cancel=cancel)
        assert c.call(b"again") == b"again"
        assert c.late_replies == 2

        # A pending call whose wait times out stays in flight; abandon gives it up.
        p = c.start(b"sleep:100")
        with pytest.raises(libipc.TimeoutError):
            p.wait(timeout=0.01)
        assert c.in_flight == 1
        assert p.wait(timeout=30) == b"sleep:100"
        with pytest.raises(libipc.InvalidArgumentError):
            p.wait(timeout=1)
        p = c.start(b"sleep:100")
        p.abandon()
        with pytest.raises(libipc.InvalidArgumentError):
            p.wait()
        assert c.call(b"last") == b"last"
        assert (c.in_flight, c.late_replies) == (0, 3)


def test_plain_channels_and_rpc_endpoints_refuse_each_other() -> None:
    with server("unix") as ep:
        with pytest.raises(libipc.ProtocolMismatchError):
            libipc.connect(ep, timeout=10)
    with libipc.listen(listen_endpoint("unix")) as listener:
        with pytest.raises(libipc.ProtocolMismatchError):
            libipc.rpc_connect(listener.endpoint, timeout=10)


def test_closed_client_and_server_gone() -> None:
    with server("unix") as ep:
        c = libipc.rpc_connect(ep)
        p = c.start(b"sleep:5000")
        c.close()
        with pytest.raises(libipc.ClosedError):
            p.wait(timeout=10)
        with pytest.raises(libipc.ClosedError):
            c.call(b"x")


async def _async_handler(req: libipc.Request, started: list[int], finished: list[int]) -> bytes:
    started.append(req.id)
    if req.body == b"fail":
        raise libipc.RemoteError("nope", status=7)
    await asyncio.sleep(req.body[0] / 1000)
    finished.append(req.id)
    return req.body


@pytest.mark.parametrize("kind", ["unix", "shm"])
def test_asyncio_concurrent_handlers_and_cancellation(kind: str) -> None:
    async def main() -> None:
        started: list[int] = []
        finished: list[int] = []
        srv = await aio.rpc_listen(listen_endpoint(kind))
        serving = asyncio.create_task(srv.serve(lambda r: _async_handler(r, started, finished)))
        async with await aio.rpc_connect(srv.endpoint) as c:
            # 200 calls with delays of 0..99 ms at once: answered as each finishes.
            bodies = [bytes([i % 100, i // 100, 0]) for i in range(200)]
            got = await asyncio.gather(*(c.call(b) for b in bodies))
            assert got == bodies
            assert finished != sorted(finished)  # out of order
            with pytest.raises(libipc.RemoteError) as e:
                await c.call(b"fail")
            assert e.value.status == 7
            # A call cancelled (here by wait_for's deadline) cancels its handler: no reply.
            before = len(finished)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.call(bytes([250, 0, 0])), 0.05)
            await asyncio.sleep(0.4)
            assert len(finished) == before
            assert (c.in_flight, c.late_replies) == (0, 0)
            assert await c.call(b"\x00ok") == b"\x00ok"
        srv.close()
        await serving

    asyncio.run(asyncio.wait_for(main(), 60))


def test_asyncio_client_against_blocking_server() -> None:
    async def main() -> None:
        with server("tcp") as ep:
            c = await aio.rpc_connect(ep)
            got = await asyncio.gather(*(c.call(b"%d" % i) for i in range(500)))
            assert got == [b"%d" % i for i in range(500)]
            await c.close()

    asyncio.run(asyncio.wait_for(main(), 60))


@pytest.mark.parametrize("kind", ["unix", "shm"])
def test_rust_server_in_another_process(kind: str, test_peer_bin: str) -> None:
    ep = listen_endpoint(kind)
    proc = subprocess.Popen(
        [test_peer_bin, "rpc-echo-server", ep, "--async", "--max-delay-ms", "10"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "ready"
        with libipc.rpc_connect(ready[1], timeout=10) as c:
            pending = [(i, c.start(b"p%d" % i)) for i in range(1000)]
            for i, p in pending:
                assert p.wait(timeout=60) == b"p%d" % i
            with pytest.raises(libipc.RemoteError) as e:
                c.call(b"fail:9:from rust")
            assert (e.value.status, e.value.text) == (9, "from rust")
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
