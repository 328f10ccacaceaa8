"""The asyncio API of libipc.

``await listen(...)`` and ``await connect(...)`` take the same arguments as `libipc.listen`
and `libipc.connect` and give an `AsyncListener` and an `AsyncChannel`. Nothing here blocks
the event loop; cancelling a pending ``recv()`` loses no message (it is delivered by the next
one). Time limits are asyncio's: ``await asyncio.wait_for(channel.recv(), 1.0)``.

::

    import asyncio
    from libipc import aio

    async def main() -> None:
        async with await aio.connect("demo") as channel:
            await channel.send(b"ping")
            print(await channel.recv())

    asyncio.run(main())

How it works: every channel and listener has a readiness descriptor (``fileno()``). A
receive first takes what is there without waiting (``try_recv``); only when nothing is, it
waits for the descriptor on the event loop (``loop.add_reader``) and tries again. So a
message is only ever taken by the call that returns it: a cancelled ``recv()`` has taken
nothing. A send that finds no room (the peer is not reading) tries again after short sleeps on
the loop, up to 1 ms apart. Connecting and closing, which may wait for the peer,
run in the loop's default executor. No other thread is involved.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
import subprocess
from typing import Any, TypeVar

from . import _libipc, _spawn
from ._errors import ClosedError, PeerDisconnectedError
from ._errors import TimeoutError as _Timeout
from ._rpc import fault

__all__ = [
    "AsyncChannel",
    "AsyncListener",
    "AsyncPublisher",
    "AsyncRpcClient",
    "AsyncRpcServer",
    "AsyncSubscriber",
    "connect",
    "from_env",
    "listen",
    "pair",
    "publisher",
    "rpc_connect",
    "rpc_listen",
    "spawn",
    "subscribe",
]

_T = TypeVar("_T")

# How long a send that found no room sleeps between tries, at most.
_MAX_BACKOFF = 0.001


class _Readiness:
    """Wait on the event loop for a descriptor to become readable, and wake every waiter
    when the owner closes. One loop reader serves all waiters of the descriptor."""

    __slots__ = ("_fd", "_closed", "_waiters", "_loop")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._closed = False
        self._waiters: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait(self) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if self._loop is None:
            loop.add_reader(self._fd, self._wake)
            self._loop = loop
        self._waiters.add(fut)
        try:
            await fut
        finally:
            self._waiters.discard(fut)
            if not self._waiters and self._loop is not None:
                self._loop.remove_reader(self._fd)
                self._loop = None

    def close(self) -> None:
        """Wake every waiter (they then see the closed state) and stop watching the fd."""
        self._closed = True
        self._wake()


async def _in_executor(fn: Callable[[], _T]) -> _T:
    return await asyncio.get_running_loop().run_in_executor(None, fn)


class AsyncChannel:
    """A connected channel for asyncio (see `libipc.Channel` for the semantics)."""

    __slots__ = ("_ch", "_ready")

    def __init__(self, channel: _libipc.Channel) -> None:
        self._ch = channel
        self._ready = _Readiness(channel.fileno())

    @property
    def peer(self) -> _libipc.Peer:
        """The peer's credentials."""
        return self._ch.peer

    @property
    def max_message_size(self) -> int:
        """The largest message `send` accepts on this channel."""
        return self._ch.max_message_size

    @property
    def channel(self) -> _libipc.Channel:
        """The underlying blocking channel."""
        return self._ch

    async def send(self, data: Any) -> None:
        """Send one message (bytes, bytearray, memoryview or any C-contiguous buffer)."""
        backoff = 0.00005
        while True:
            try:
                self._ch.send(data, timeout=0)
                break
            except _Timeout:
                pass  # no room now; nothing was sent
            if self._ready._closed:
                self._ch.send(data, timeout=0)  # raises ClosedError (or sends)
                return
            # The peer is not reading: try again shortly (the readiness descriptor only
            # tells about receiving).
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
        # Part of a large message may still be queued in the channel (a send that found some
        # room takes what fits): see it out, so the peer gets it without waiting for our next
        # send.
        backoff = 0.00005
        while True:
            try:
                self._ch.flush(timeout=0)
                return
            except _Timeout:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    async def recv(self) -> bytes:
        """The next message. Cancelling this loses nothing."""
        while True:
            m = self._ch.try_recv()
            if m is not None:
                return m
            if self._ready._closed:
                return self._ch.recv(timeout=0)  # raises ClosedError (this side closed)
            await self._ready.wait()

    async def close(self) -> None:
        """Close: the peer receives everything sent so far, then `ClosedError`."""
        self._ready.close()
        await _in_executor(self._ch.close)

    def fileno(self) -> int:
        """The readiness descriptor (see `libipc.Channel.fileno`)."""
        return self._ch.fileno()

    def __aiter__(self) -> AsyncChannel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ClosedError:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> AsyncChannel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<libipc.aio.AsyncChannel fd={self._ch.fileno()}>"


class AsyncListener:
    """A bound endpoint accepting channels, for asyncio."""

    __slots__ = ("_l", "_ready")

    def __init__(self, listener: _libipc.Listener) -> None:
        self._l = listener
        self._ready = _Readiness(listener.fileno())

    @property
    def endpoint(self) -> str:
        """The endpoint clients connect to (for ``tcp://host:0``, with the real port)."""
        return self._l.endpoint

    async def accept(self) -> AsyncChannel:
        """The next client whose handshake succeeded. Cancelling this loses no client."""
        while True:
            try:
                return AsyncChannel(self._l.accept(timeout=0))
            except _Timeout:
                pass
            if self._ready._closed:
                return AsyncChannel(self._l.accept(timeout=0))  # raises ClosedError
            await self._ready.wait()

    def close(self) -> None:
        """Stop accepting: pending and later `accept` calls raise `ClosedError`."""
        self._ready.close()
        self._l.close()

    def __aiter__(self) -> AsyncListener:
        return self

    async def __anext__(self) -> AsyncChannel:
        try:
            return await self.accept()
        except ClosedError:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> AsyncListener:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<libipc.aio.AsyncListener {self._l.endpoint}>"


async def listen(
    endpoint: str,
    *,
    max_message_size: int | None = None,
    socket_mode: int | None = None,
    handshake_timeout: float | None = None,
    allowed_uids: Iterable[int] | None = None,
    allowed_gids: Iterable[int] | None = None,
    shm_ring_size: int | None = None,
    shm_spin: float | None = None,
    stream_spin: float | None = None,
    shm_posix_fallback: bool | None = None,
    max_connections: int | None = None,
    frame_timeout: float | None = None,
) -> AsyncListener:
    """Bind `endpoint` (the arguments of `libipc.listen`)."""
    listener = _libipc.listen(
        endpoint,
        max_message_size=max_message_size,
        socket_mode=socket_mode,
        handshake_timeout=handshake_timeout,
        allowed_uids=allowed_uids,
        allowed_gids=allowed_gids,
        shm_ring_size=shm_ring_size,
        shm_spin=shm_spin,
        stream_spin=stream_spin,
        shm_posix_fallback=shm_posix_fallback,
        max_connections=max_connections,
        frame_timeout=frame_timeout,
    )
    return AsyncListener(listener)


async def connect(
    endpoint: str,
    timeout: float | None = None,
    *,
    max_message_size: int | None = None,
    connect_timeout: float | None = 10.0,
    handshake_timeout: float | None = None,
    allowed_uids: Iterable[int] | None = None,
    allowed_gids: Iterable[int] | None = None,
    shm_spin: float | None = None,
    stream_spin: float | None = None,
    shm_posix_fallback: bool | None = None,
    frame_timeout: float | None = None,
    expected_server_uid: int | None = None,
) -> AsyncChannel:
    """Connect to `endpoint` (the arguments of `libipc.connect`), without blocking the loop."""
    fn = functools.partial(
        _libipc.connect,
        endpoint,
        timeout,
        max_message_size=max_message_size,
        connect_timeout=connect_timeout,
        handshake_timeout=handshake_timeout,
        allowed_uids=allowed_uids,
        allowed_gids=allowed_gids,
        shm_spin=shm_spin,
        stream_spin=stream_spin,
        shm_posix_fallback=shm_posix_fallback,
        frame_timeout=frame_timeout,
        expected_server_uid=expected_server_uid,
    )
    return AsyncChannel(await _in_executor(fn))


def pair(
    *,
    max_message_size: int | None = None,
    handshake_timeout: float | None = None,
    stream_spin: float | None = None,
) -> tuple[AsyncChannel, AsyncChannel]:
    """Two connected channels in this process, over a socket pair (as `libipc.Channel.pair`;
    not a coroutine: it waits for nothing outside the call)."""
    a, b = _libipc.Channel.pair(
        max_message_size=max_message_size,
        handshake_timeout=handshake_timeout,
        stream_spin=stream_spin,
    )
    return AsyncChannel(a), AsyncChannel(b)


async def from_env(
    *,
    max_message_size: int | None = None,
    handshake_timeout: float | None = None,
    stream_spin: float | None = None,
) -> AsyncChannel:
    """In a child started with a libipc spawn helper: open the channel to the parent (as
    `libipc.Channel.from_env`), without blocking the loop."""
    fn = functools.partial(
        _libipc.Channel.from_env,
        max_message_size=max_message_size,
        handshake_timeout=handshake_timeout,
        stream_spin=stream_spin,
    )
    return AsyncChannel(await _in_executor(fn))


async def spawn(args: Any, **kwargs: Any) -> tuple[AsyncChannel, subprocess.Popen[Any]]:
    """Start a child process holding the other end of a new channel (the arguments of
    `libipc.spawn`), without blocking the loop: starting it and waiting for it to open the
    channel run in the loop's default executor. Waiting for the child stays yours."""
    ch, proc = await _in_executor(functools.partial(_spawn.spawn, args, **kwargs))
    return AsyncChannel(ch), proc


class AsyncRpcClient:
    """A request/reply client for asyncio (see `libipc.RpcClient`): any number of `call`s may
    be in flight at once, from any tasks; each reply reaches its call. Cancelling a call (or
    `asyncio.wait_for` timing it out) abandons its request: the server is told, and a reply
    that still comes is dropped and counted (`late_replies`)."""

    __slots__ = ("_c", "_ready")

    def __init__(self, client: _libipc.RpcClient) -> None:
        self._c = client
        self._ready = _Readiness(client.fileno())

    @property
    def client(self) -> _libipc.RpcClient:
        """The underlying blocking client."""
        return self._c

    @property
    def in_flight(self) -> int:
        return self._c.in_flight

    @property
    def late_replies(self) -> int:
        return self._c.late_replies

    async def _start(self, data: Any) -> _libipc.PendingCall:
        backoff = 0.00005
        while True:
            p = self._c.try_start(data)  # takes the replies that are waiting, too
            if p is not None:
                return p
            if self._ready._closed:
                return self._c.start(data, timeout=0)  # raises ClosedError
            # The server is not taking requests now: try again shortly.
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def call(self, data: Any) -> bytes:
        """Send a request and wait for its reply (`libipc.RemoteError` for an error reply)."""
        p = await self._start(data)
        try:
            while True:
                r = p.try_take()
                if r is not None:
                    return r
                if self._ready._closed:
                    return p.wait(timeout=0)  # raises ClosedError
                await self._ready.wait()
        finally:
            p.abandon()  # nothing if the reply was taken

    async def close(self) -> None:
        """Close: calls in flight raise `ClosedError`."""
        self._ready.close()
        await _in_executor(self._c.close)

    async def __aenter__(self) -> AsyncRpcClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<libipc.aio.AsyncRpcClient in_flight={self._c.in_flight}>"


class AsyncRpcServer:
    """A request/reply server for asyncio: `serve` runs every request's handler as a task of
    its own, answers each when it is done (in any order), and cancels a request's task when
    its client cancels the call."""

    __slots__ = ("_s", "_ready")

    def __init__(self, server: _libipc.RpcServer) -> None:
        self._s = server
        self._ready = _Readiness(server.fileno())

    @property
    def endpoint(self) -> str:
        return self._s.endpoint

    async def accept(self) -> _libipc.RpcConnection:
        """The next client. Cancelling this loses no client."""
        while True:
            try:
                return self._s.accept(timeout=0)
            except _Timeout:
                pass
            if self._ready._closed:
                return self._s.accept(timeout=0)  # raises ClosedError
            await self._ready.wait()

    async def serve(self, handler: Callable[[_libipc.Request], Awaitable[Any]]) -> None:
        """Answer every client with ``await handler(request)`` until the server is closed.
        Raising `RemoteError(text, status=N)` answers with that error; any other exception
        with `libipc.PANIC_STATUS` and its text."""
        conns: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    conn = await self.accept()
                except ClosedError:
                    return
                task = asyncio.create_task(_serve_rpc_connection(conn, handler))
                conns.add(task)
                task.add_done_callback(conns.discard)
        finally:
            for t in conns:
                t.cancel()

    def close(self) -> None:
        """Stop accepting: `accept` and `serve` return (`serve`) or raise `ClosedError`."""
        self._ready.close()
        self._s.close()

    async def __aenter__(self) -> AsyncRpcServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<libipc.aio.AsyncRpcServer {self._s.endpoint}>"


async def _reply(conn: _libipc.RpcConnection, id_: int, data: Any, status: int) -> None:
    backoff = 0.00005
    while not conn.try_reply(id_, data, status):
        await asyncio.sleep(backoff)  # the client is not taking replies now
        backoff = min(backoff * 2, _MAX_BACKOFF)


async def _serve_rpc_connection(
    conn: _libipc.RpcConnection, handler: Callable[[_libipc.Request], Awaitable[Any]]
) -> None:
    running: dict[int, asyncio.Task[None]] = {}

    async def run(req: _libipc.Request) -> None:
        try:
            body = await handler(req)
            status = 0
        except asyncio.CancelledError:
            return  # the client cancelled the call: no reply
        except Exception as e:
            status, text = fault(e)
            body = text.encode()
        finally:
            running.pop(req.id, None)
        try:
            await _reply(conn, req.id, body, status)
        except (ClosedError, PeerDisconnectedError):
            pass

    ready = _Readiness(conn.fileno())
    try:
        while True:
            try:
                got = conn.try_recv_any()
            except (ClosedError, PeerDisconnectedError):
                return
            if got is None:
                await ready.wait()
            elif isinstance(got, int):
                task = running.pop(got, None)
                if task is not None:
                    task.cancel()
            else:
                running[got.id] = asyncio.create_task(run(got))
    finally:
        for task in list(running.values()):
            task.cancel()
        ready.close()
        conn.close()


async def rpc_connect(endpoint: str, timeout: float | None = None, **options: Any) -> AsyncRpcClient:
    """Connect to a request/reply server (the arguments of `libipc.rpc_connect`), without
    blocking the loop."""
    fn = functools.partial(_libipc.rpc_connect, endpoint, timeout, **options)
    return AsyncRpcClient(await _in_executor(fn))


async def rpc_listen(endpoint: str, **options: Any) -> AsyncRpcServer:
    """Listen for request/reply clients (the arguments of `libipc.rpc_listen`)."""
    return AsyncRpcServer(_libipc.rpc_listen(endpoint, **options))


class AsyncSubscriber:
    """A subscriber for asyncio (see `libipc.Subscriber`): ``await recv()``, or ``async for``
    until the publisher closes. Cancelling a ``recv()`` loses no message."""

    __slots__ = ("_s", "_ready")

    def __init__(self, subscriber: _libipc.Subscriber) -> None:
        self._s = subscriber
        self._ready = _Readiness(subscriber.fileno())

    @property
    def subscriber(self) -> _libipc.Subscriber:
        """The underlying blocking subscriber."""
        return self._s

    @property
    def dropped(self) -> int:
        """Messages dropped for this subscriber so far."""
        return self._s.dropped

    async def recv(self) -> _libipc.Delivery:
        """The next message (`ClosedError` once the publisher closed, after everything)."""
        while True:
            d = self._s.try_recv()
            if d is not None:
                return d
            if self._ready._closed:
                return self._s.recv(timeout=0)  # raises ClosedError
            await self._ready.wait()

    async def close(self) -> None:
        """Leave: the publisher forgets this subscriber."""
        self._ready.close()
        await _in_executor(self._s.close)

    def __aiter__(self) -> AsyncSubscriber:
        return self

    async def __anext__(self) -> _libipc.Delivery:
        try:
            return await self.recv()
        except ClosedError:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> AsyncSubscriber:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<libipc.aio.AsyncSubscriber dropped={self._s.dropped}>"


class AsyncPublisher:
    """A publisher for asyncio (see `libipc.Publisher`). With ``overflow="drop_oldest"`` a
    publish never waits and runs in the calling task; with ``overflow="block"`` it may wait
    for full subscribers, so it runs in the loop's default executor, as do waiting for
    subscribers and closing."""

    __slots__ = ("_p", "_blocks")

    def __init__(self, publisher: _libipc.Publisher, blocks: bool) -> None:
        self._p = publisher
        self._blocks = blocks

    @property
    def publisher(self) -> _libipc.Publisher:
        """The underlying blocking publisher."""
        return self._p

    @property
    def endpoint(self) -> str:
        return self._p.endpoint

    @property
    def subscribers(self) -> int:
        return self._p.subscribers

    @property
    def stats(self) -> tuple[int, int, int, int]:
        """``(subscribers, published, dropped, cut_off)``."""
        return self._p.stats

    async def publish(self, data: Any, topic: Any = None) -> int:
        """Publish `data` under `topic`; how many subscribers it was queued for."""
        if not self._blocks:
            return self._p.publish(data, topic)
        payload = bytes(data)  # the caller may reuse its buffer once this returns
        return await _in_executor(functools.partial(self._p.publish, payload, topic))

    async def wait_for_subscribers(self, count: int, timeout: float | None = None) -> None:
        await _in_executor(functools.partial(self._p.wait_for_subscribers, count, timeout))

    async def close(self, timeout: float | None = None) -> bool:
        """End every subscription after what is queued for it; whether all were served."""
        return await _in_executor(functools.partial(self._p.close, timeout))

    async def __aenter__(self) -> AsyncPublisher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<libipc.aio.AsyncPublisher {self._p.endpoint}>"


async def publisher(endpoint: str, **options: Any) -> AsyncPublisher:
    """Publish at `endpoint` (the arguments of `libipc.publisher`)."""
    fn = functools.partial(_libipc.publisher, endpoint, **options)
    return AsyncPublisher(await _in_executor(fn), options.get("overflow") == "block")


async def subscribe(endpoint: str, topics: Iterable[Any] | None = None, timeout: float | None = None, **options: Any) -> AsyncSubscriber:
    """Subscribe at `endpoint` (the arguments of `libipc.subscribe`), without blocking the
    loop."""
    fn = functools.partial(_libipc.subscribe, endpoint, topics, timeout, **options)
    return AsyncSubscriber(await _in_executor(fn))

