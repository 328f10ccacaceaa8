"""libipc.aio: connect/accept/send/recv, async for, async with, cancellation without loss,
and a loop that is never blocked."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

import libipc
from libipc import aio
from conftest import ALL_TRANSPORTS, TRANSPORTS, listen_endpoint


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro_fn())  # type: ignore[arg-type]


@asynccontextmanager
async def apair(kind: str, **listen_opts: object) -> AsyncIterator[tuple[aio.AsyncChannel, aio.AsyncChannel]]:
    listener = await aio.listen(listen_endpoint(kind), **listen_opts)  # type: ignore[arg-type]
    async with listener:
        server_task = asyncio.ensure_future(listener.accept())
        client = await aio.connect(listener.endpoint, timeout=30)
        server = await server_task
    try:
        yield server, client
    finally:
        await client.close()
        await server.close()


@pytest.mark.parametrize("kind", ALL_TRANSPORTS)
def test_round_trip(kind: str) -> None:
    async def main() -> None:
        async with apair(kind) as (server, client):
            assert isinstance(server, aio.AsyncChannel)
            await client.send(b"ping")
            assert await server.recv() == b"ping"
            await server.send(bytearray(b"pong"))
            got = await client.recv()
            assert type(got) is bytes and got == b"pong"
            await client.send(memoryview(b"xx-view")[3:])
            assert await server.recv() == b"view"

    run(main)


def test_async_with_and_async_for(transport: str) -> None:
    async def main() -> None:
        async with await aio.listen(listen_endpoint(transport)) as listener:
            assert isinstance(listener, aio.AsyncListener)

            async def serve() -> list[bytes]:
                async for ch in listener:
                    async with ch:
                        got = [m async for m in ch]  # until the client closes
                        return got
                return []

            server = asyncio.ensure_future(serve())
            async with await aio.connect(listener.endpoint, timeout=30) as ch:
                for i in range(10):
                    await ch.send(b"%d" % i)
            assert await server == [b"%d" % i for i in range(10)]

    run(main)


def test_async_listener_iteration_ends_on_close(transport: str) -> None:
    async def main() -> None:
        listener = await aio.listen(listen_endpoint(transport))
        accepted: list[aio.AsyncChannel] = []

        async def serve() -> None:
            async for ch in listener:
                accepted.append(ch)

        task = asyncio.ensure_future(serve())
        clients = [await aio.connect(listener.endpoint, timeout=30) for _ in range(2)]
        while len(accepted) < 2:
            await asyncio.sleep(0.01)
        listener.close()
        await task  # ends: no exception
        for c in clients + accepted:
            await c.close()

    run(main)


def test_peer_and_max_message_size() -> None:
    async def main() -> None:
        async with apair("unix") as (server, client):
            assert server.peer.pid == os.getpid() and client.peer.uid == os.getuid()
            assert client.max_message_size == 16 * 1024 * 1024
        async with apair("tcp") as (server, _):
            assert server.peer.pid is None

    run(main)


def test_errors() -> None:
    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            await aio.connect(listen_endpoint("unix"), timeout=5)
        with pytest.raises(ValueError):
            await aio.connect("nope://x")
        with pytest.raises(TypeError):
            await aio.connect(listen_endpoint("unix"), nonsense=1)  # type: ignore[call-arg]
        with pytest.raises(libipc.InvalidArgumentError):
            await aio.listen(listen_endpoint("shm"), shm_ring_size=1000)
        async with apair("unix", max_message_size=10) as (server, client):
            with pytest.raises(libipc.MessageTooLargeError):
                await client.send(bytes(11))
            await client.close()
            with pytest.raises(EOFError):
                await server.recv()
            with pytest.raises(libipc.ClosedError):
                await client.recv()
            with pytest.raises(libipc.ClosedError):
                await client.send(b"x")

    run(main)


def test_async_for_ends_on_peer_close(transport: str) -> None:
    async def main() -> None:
        async with apair(transport) as (server, client):
            for i in range(100):
                await client.send(b"%d" % i)
            await client.close()
            assert [m async for m in server] == [b"%d" % i for i in range(100)]

    run(main)


def test_cancelled_recv_loses_nothing(transport: str) -> None:
    async def main() -> None:
        async with apair(transport) as (server, client):
            task = asyncio.ensure_future(server.recv())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(server.recv(), 0.05)
            await client.send(b"first")
            await client.send(b"second")
            assert await server.recv() == b"first"
            assert await server.recv() == b"second"

    run(main)


def test_wait_for_races_lose_nothing(transport: str) -> None:
    """Messages arrive while receives are being cancelled (asyncio.wait_for timeouts) at
    random moments: every message is received exactly once, in order. After the numbered
    messages the sender repeats an end marker until it is seen, so a lost message shows as a
    gap (a failure), not as a hang."""
    n = 3000
    end = b"end"

    async def main() -> None:
        async with apair(transport) as (server, client):
            rng = random.Random(5)
            seen_end = asyncio.Event()

            async def send() -> None:
                for i in range(n):
                    await client.send(i.to_bytes(4, "little"))
                    if rng.random() < 0.3:
                        await asyncio.sleep(rng.random() * 0.0005)
                while not seen_end.is_set():
                    await client.send(end)
                    await asyncio.sleep(0.01)

            sender = asyncio.ensure_future(send())
            got: list[int] = []
            cancels = 0
            while True:
                try:
                    m = await asyncio.wait_for(server.recv(), rng.random() * 0.0003)
                except TimeoutError:
                    cancels += 1
                    continue
                if m == end:
                    seen_end.set()
                    break
                got.append(int.from_bytes(m, "little"))
            await sender
            missing = sorted(set(range(n)) - set(got))
            assert not missing, f"{len(missing)} of {n} messages lost, e.g. {missing[:10]} ({cancels} cancelled receives)"
            assert got == list(range(n))
            assert cancels > 0

    run(main)


def test_cancel_from_another_task_then_close(transport: str) -> None:
    async def main() -> None:
        async with apair(transport) as (server, client):
            tasks = [asyncio.ensure_future(server.recv()) for _ in range(1)]
            await asyncio.sleep(0.02)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.send(b"kept")
            assert await server.recv() == b"kept"

    run(main)


def test_loop_not_blocked_while_recv_waits(transport: str) -> None:
    async def main() -> None:
        async with apair(transport) as (server, client):
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while ticks < 20:
                    await asyncio.sleep(0.001)
                    ticks += 1
                # the other task made progress while recv waited: now let it finish
                await client.send(b"done")

            t = asyncio.ensure_future(ticker())
            assert await server.recv() == b"done"
            assert ticks >= 20
            await t

    run(main)


def test_loop_not_blocked_while_accept_and_connect_wait() -> None:
    async def main() -> None:
        listener = await aio.listen(listen_endpoint("unix"))
        async with listener:
            accepted = asyncio.ensure_future(listener.accept())
            ticks = 0
            for _ in range(10):
                await asyncio.sleep(0.001)
                ticks += 1
            assert not accepted.done()
            ch = await aio.connect(listener.endpoint, timeout=30)
            server = await accepted
            await ch.close()
            await server.close()
            assert ticks == 10

    run(main)


def test_blocking_peer_and_async_side_interoperate(transport: str) -> None:
    """A blocking Channel (in a thread) and an AsyncChannel talk to each other."""
    import threading

    async def main() -> None:
        listener = await aio.listen(listen_endpoint(transport))
        async with listener:
            def client() -> None:
                with libipc.connect(listener.endpoint, timeout=30) as ch:
                    for m in ch:
                        ch.send(m[::-1])

            t = threading.Thread(target=client)
            t.start()
            async with await listener.accept() as ch:
                for i in range(200):
                    await ch.send(b"abc%d" % i)
                    assert await ch.recv() == (b"abc%d" % i)[::-1]
            await asyncio.to_thread(t.join)

    run(main)


def test_many_concurrent_channels() -> None:
    async def main() -> None:
        listener = await aio.listen(listen_endpoint("unix"))

        async def echo(ch: aio.AsyncChannel) -> None:
            async with ch:
                async for m in ch:
                    await ch.send(m)

        async def serve() -> None:
            async for ch in listener:
                asyncio.ensure_future(echo(ch))

        server = asyncio.ensure_future(serve())

        async def one(k: int) -> None:
            async with await aio.connect(listener.endpoint, timeout=30) as ch:
                for i in range(50):
                    await ch.send(b"%d-%d" % (k, i))
                    assert await ch.recv() == b"%d-%d" % (k, i)

        await asyncio.gather(*(one(k) for k in range(20)))
        listener.close()
        await server

    run(main)


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_connect_timeout_argument(kind: str) -> None:
    async def main() -> None:
        with pytest.raises(libipc.NotFoundError):
            await aio.connect(listen_endpoint(kind) if kind != "tcp" else "tcp://127.0.0.1:1",
                              timeout=2)

    run(main)


def test_large_message_arrives_whole_without_another_send(transport: str) -> None:
    """A message larger than what the socket or ring holds at once: `send` returns only when
    all of it went out, so the peer gets it although nothing else is sent afterwards."""

    async def main() -> None:
        async with apair(transport) as (server, client):
            big = bytes(range(256)) * (16 * 1024)  # 4 MiB
            receiving = asyncio.ensure_future(server.recv())
            await client.send(big)
            assert await receiving == big

    run(main)
