"""Type stubs of the extension module ``libipc._libipc`` (see bindings/python/README.md).

Import from `libipc` and `libipc.aio`, not from here. The errors it raises are the classes of
`libipc._errors`.
"""

from collections.abc import Iterable
from types import TracebackType
from typing import Self, final

# Buffer-protocol objects (bytes, bytearray, memoryview, array.array, mmap, numpy arrays,
# MessageView, SendBuffer, ...). Stub-only aliases of typing_extensions.Buffer
# (collections.abc.Buffer on 3.12+); nothing is imported at run time.
from _typeshed import ReadableBuffer, WriteableBuffer

__all__ = [
    "Cancel",
    "Channel",
    "ChildEnd",
    "Listener",
    "MessageView",
    "Peer",
    "PendingCall",
    "Request",
    "RpcClient",
    "RpcConnection",
    "RpcServer",
    "SendBuffer",
    "__version__",
    "connect",
    "listen",
    "rpc_connect",
    "rpc_listen",
]

__version__: str

# @generated begin option-defaults (cargo xtask tables; do not edit)
# The options' defaults (the core's): max_message_size 16 MiB, socket_mode 0o600, connect_timeout 10
# s, handshake_timeout 5 s, allowed_uids any uid, allowed_gids any gid, shm_ring_size 4 MiB,
# shm_spin 100 µs, stream_spin 50 µs, shm_posix_fallback off, max_connections 1024, frame_timeout
# 30 s, expected_server_uid any uid.
# @generated end option-defaults

# ----------------------------------------------------------------------------------------------
# Blocking API

def listen(
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
) -> Listener:
    """Bind `endpoint` and listen on it."""

def connect(
    endpoint: str,
    timeout: float | None = None,
    *,
    max_message_size: int | None = None,
    connect_timeout: float | None = ...,
    handshake_timeout: float | None = None,
    allowed_uids: Iterable[int] | None = None,
    allowed_gids: Iterable[int] | None = None,
    shm_spin: float | None = None,
    stream_spin: float | None = None,
    shm_posix_fallback: bool | None = None,
    frame_timeout: float | None = None,
    expected_server_uid: int | None = None,
) -> Channel:
    """Connect to `endpoint`; `timeout`, when given, replaces `connect_timeout`."""

@final
class Cancel:
    """A cancellation handle for the ``cancel=`` keyword of every blocking call.

    ``cancel()``, from any thread, makes the calls given this handle raise `CancelledError`
    (those waiting now and later ones) until ``reset()``. A cancelled call has lost nothing.
    Writing any byte to ``fileno()`` cancels too (safe from a signal handler).
    """

    def __init__(self) -> None: ...
    def cancel(self) -> None: ...
    def reset(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...
    def fileno(self) -> int: ...

@final
class Peer:
    """The credentials of the process at the other end (None where the transport cannot tell)."""

    @property
    def pid(self) -> int | None: ...
    @property
    def uid(self) -> int | None: ...
    @property
    def gid(self) -> int | None: ...

@final
class MessageView:
    """A received message, read in place (over shm, in the ring) until released.

    ``memoryview(view)`` reads it without copying, ``bytes(view)`` copies it. ``release()``,
    or leaving ``with view:``, gives the space back; memoryviews of it must be released first
    (``BufferError`` otherwise): ``with view, memoryview(view) as data: ...``.
    """

    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...
    def __bytes__(self) -> bytes: ...
    def __len__(self) -> int: ...
    def tobytes(self) -> bytes: ...
    def release(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

@final
class SendBuffer:
    """Space reserved for one outgoing message (over shm, in the ring).

    Fill ``memoryview(buf)``, release that memoryview, then ``commit()`` (sends it) or
    ``abort()``.
    ``with ch.reserve(n) as buf:`` commits on success and aborts on an exception.
    """

    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...
    def __len__(self) -> int: ...
    def commit(self, *, cancel: Cancel | None = None) -> None: ...
    def abort(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

@final
class Channel:
    """A connected, message-oriented, bidirectional channel."""

    @staticmethod
    def pair(
        *,
        max_message_size: int | None = None,
        handshake_timeout: float | None = None,
        stream_spin: float | None = None,
    ) -> tuple[Channel, Channel]:
        """Two connected channels in this process, over a socket pair."""
    @staticmethod
    def from_env(
        *,
        max_message_size: int | None = None,
        handshake_timeout: float | None = None,
        stream_spin: float | None = None,
    ) -> Channel:
        """In a child started with `libipc.spawn` (or a Rust or C spawn helper): open the
        channel to the parent (``LIBIPC_CHANNEL_FD``). Once per process."""
    @property
    def peer(self) -> Peer: ...
    @property
    def max_message_size(self) -> int: ...
    def send(
        self, data: ReadableBuffer, timeout: float | None = None, *, cancel: Cancel | None = None
    ) -> None: ...
    def flush(self, timeout: float | None = None, *, cancel: Cancel | None = None) -> None: ...
    def recv(self, timeout: float | None = None, *, cancel: Cancel | None = None) -> bytes: ...
    def try_recv(self) -> bytes | None: ...
    def recv_into(
        self, buffer: WriteableBuffer, timeout: float | None = None, *, cancel: Cancel | None = None
    ) -> int: ...
    def recv_view(
        self, timeout: float | None = None, *, cancel: Cancel | None = None
    ) -> MessageView: ...
    def reserve(
        self, size: int, timeout: float | None = None, *, cancel: Cancel | None = None
    ) -> SendBuffer: ...
    def close(self) -> None: ...
    def fileno(self) -> int: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> bytes: ...

@final
class ChildEnd:
    """The parent's half of a channel to a child process not yet started: inherit ``fd`` in
    the child at the same number, set ``env_name`` to ``env_value`` in its environment, start
    it, then ``finish(pid)``. `libipc.spawn` does this with ``subprocess.Popen``."""

    def __init__(
        self,
        *,
        max_message_size: int | None = None,
        handshake_timeout: float | None = None,
        stream_spin: float | None = None,
    ) -> None: ...
    @property
    def fd(self) -> int: ...
    @property
    def env_name(self) -> str: ...
    @property
    def env_value(self) -> str: ...
    def finish(self, pid: int) -> Channel: ...
    def close(self) -> None: ...

@final
class Listener:
    """A bound endpoint that accepts channels."""

    @property
    def endpoint(self) -> str: ...
    def accept(self, timeout: float | None = None, *, cancel: Cancel | None = None) -> Channel: ...
    def close(self) -> None: ...
    def fileno(self) -> int: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Channel: ...

# ----------------------------------------------------------------------------------------------
# Request/reply

def rpc_listen(
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
) -> RpcServer:
    """Listen at `endpoint` for request/reply clients (plain channels are refused)."""

def rpc_connect(
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
) -> RpcClient:
    """Connect to a request/reply server at `endpoint`."""

@final
class RpcClient:
    """A request/reply client: any number of calls in flight, from any threads."""

    @property
    def in_flight(self) -> int: ...
    @property
    def late_replies(self) -> int: ...
    def call(
        self, data: ReadableBuffer, timeout: float | None = None, *, cancel: Cancel | None = None
    ) -> bytes: ...
    def start(
        self, data: ReadableBuffer, timeout: float | None = None, *, cancel: Cancel | None = None
    ) -> PendingCall: ...
    def try_start(self, data: ReadableBuffer) -> PendingCall | None: ...
    @property
    def peer(self) -> Peer: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

@final
class PendingCall:
    """A request sent with `RpcClient.start`."""

    @property
    def id(self) -> int: ...
    def wait(self, timeout: float | None = None, *, cancel: Cancel | None = None) -> bytes: ...
    def try_take(self) -> bytes | None: ...
    def abandon(self) -> None: ...

@final
class RpcServer:
    """A request/reply server: accepts `RpcConnection`s."""

    @property
    def endpoint(self) -> str: ...
    def accept(
        self, timeout: float | None = None, *, cancel: Cancel | None = None
    ) -> RpcConnection: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

@final
class RpcConnection:
    """One client's connection on an `RpcServer`."""

    def recv(self, timeout: float | None = None, *, cancel: Cancel | None = None) -> Request: ...
    def try_recv_any(self) -> Request | int | None: ...
    def reply(
        self,
        id: int,
        data: ReadableBuffer,
        timeout: float | None = None,
        *,
        cancel: Cancel | None = None,
    ) -> None: ...
    def reply_error(
        self,
        id: int,
        status: int,
        text: str = "",
        timeout: float | None = None,
        *,
        cancel: Cancel | None = None,
    ) -> None: ...
    def try_reply(self, id: int, data: ReadableBuffer, status: int = 0) -> bool: ...
    @property
    def peer(self) -> Peer: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

@final
class Request:
    """A request: its id and body."""

    @property
    def id(self) -> int: ...
    @property
    def body(self) -> bytes: ...

def publisher(
    endpoint: str,
    *,
    overflow: str = "drop_oldest",
    block_timeout: float | None = None,
    depth: int | None = None,
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
) -> Publisher:
    """Publish at `endpoint` (overflow: "drop_oldest" or "block" with `block_timeout`)."""

def subscribe(
    endpoint: str,
    topics: Iterable[ReadableBuffer | str] | None = None,
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
) -> Subscriber:
    """Subscribe at `endpoint` to the topics starting with one of `topics` (none: all)."""

@final
class Publisher:
    """A publisher: every message goes to each subscriber whose prefixes match its topic."""

    @property
    def endpoint(self) -> str: ...
    @property
    def subscribers(self) -> int: ...
    @property
    def stats(self) -> tuple[int, int, int, int]: ...
    def publish(self, data: ReadableBuffer, topic: ReadableBuffer | str | None = None) -> int: ...
    def wait_for_subscribers(
        self, count: int, timeout: float | None = None, *, cancel: Cancel | None = None
    ) -> None: ...
    def close(self, timeout: float | None = None) -> bool: ...
    def __enter__(self) -> Publisher: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> bool: ...

@final
class Subscriber:
    """A subscriber: the messages of its topics, in order, with the drops before each."""

    @property
    def dropped(self) -> int: ...
    @property
    def topics(self) -> list[bytes]: ...
    def recv(self, timeout: float | None = None, *, cancel: Cancel | None = None) -> Delivery: ...
    def try_recv(self) -> Delivery | None: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def __iter__(self) -> Subscriber: ...
    def __next__(self) -> Delivery: ...
    def __enter__(self) -> Subscriber: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> bool: ...

@final
class Delivery:
    """One received message."""

    @property
    def topic(self) -> bytes: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def seq(self) -> int: ...
    @property
    def dropped(self) -> int: ...

