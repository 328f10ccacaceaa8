"""libipc: message channels between processes (Unix sockets, TCP, shared memory).

The wire format is the same in every libipc language, so a Python process talks to Rust, C,
... processes. Endpoints are strings: ``unix:///abs/path.sock``, ``unix:@abstract``,
``tcp://host:port``, ``shm://name`` or a bare name (a socket in your runtime directory).
Times are seconds; ``None`` means no limit.

A server::

    import libipc

    with libipc.listen("demo") as listener:
        for channel in listener:              # one client after the other
            with channel:
                for message in channel:       # until the client closes
                    channel.send(message)

and a client, in another process::

    with libipc.connect("demo", timeout=5) as channel:
        channel.send(b"ping")
        print(channel.recv(timeout=1.0))      # b'ping'

A parent and the child process it starts (the child may be Python, Rust or C)::

    channel, proc = libipc.spawn([sys.executable, "worker.py"])   # in the parent
    channel = libipc.Channel.from_env()                           # in worker.py

Request/reply: ``libipc.rpc_listen(endpoint)`` and ``libipc.serve(server, handler)`` on the
server side, ``libipc.rpc_connect(endpoint).call(b"...")`` on the client side (many calls may
be in flight on one client; ``start`` sends one and returns a `PendingCall` to ``wait`` for).
An error reply raises `RemoteError`, whose ``status`` the server's handler chose.

Publish/subscribe: ``libipc.publisher(endpoint).publish(b"...", topic="cam/0")`` and
``for d in libipc.subscribe(endpoint, ["cam/"]): ...`` (each `Delivery` has ``topic``,
``payload``, ``seq`` and ``dropped``: how many messages were dropped for this subscriber just
before it).

Errors are subclasses of `libipc.Error` and of the matching builtin exception
(``libipc.NotFoundError`` is a ``FileNotFoundError``, ``libipc.TimeoutError`` the builtin
``TimeoutError``, ...). The asyncio API is in `libipc.aio`.
"""

# The errors first: the extension module raises its errors through libipc._errors.BY_CODE.
from ._errors import (
    # @generated begin error-imports (cargo xtask tables; do not edit)
    AddressInUseError,
    BufferTooSmallError,
    BusyError,
    CancelledError,
    ClosedError,
    Error,
    InvalidArgumentError,
    InvalidEndpointError,
    IoError,
    LaggedError,
    MessageTooLargeError,
    NotFoundError,
    PeerDisconnectedError,
    PermissionDeniedError,
    ProtocolMismatchError,
    ProtocolViolationError,
    RemoteError,
    TimeoutError,
    UnsupportedError,
    # @generated end error-imports
)
from ._libipc import (
    Cancel,
    Channel,
    ChildEnd,
    Delivery,
    Listener,
    MessageView,
    Peer,
    PendingCall,
    Publisher,
    Request,
    RpcClient,
    RpcConnection,
    RpcServer,
    SendBuffer,
    Subscriber,
    __version__,
    connect,
    listen,
    publisher,
    rpc_connect,
    rpc_listen,
    subscribe,
)
from ._rpc import PANIC_STATUS, serve
from ._spawn import spawn
from . import aio

__all__ = [
    "Cancel",
    "Channel",
    "ChildEnd",
    "Delivery",
    "Listener",
    "MessageView",
    "PANIC_STATUS",
    "Peer",
    "PendingCall",
    "Publisher",
    "Request",
    "RpcClient",
    "RpcConnection",
    "RpcServer",
    "SendBuffer",
    "Subscriber",
    "__version__",
    "aio",
    "connect",
    "listen",
    "publisher",
    "rpc_connect",
    "rpc_listen",
    "serve",
    "spawn",
    "subscribe",
    # @generated begin error-all (cargo xtask tables; do not edit)
    "AddressInUseError",
    "BufferTooSmallError",
    "BusyError",
    "CancelledError",
    "ClosedError",
    "Error",
    "InvalidArgumentError",
    "InvalidEndpointError",
    "IoError",
    "LaggedError",
    "MessageTooLargeError",
    "NotFoundError",
    "PeerDisconnectedError",
    "PermissionDeniedError",
    "ProtocolMismatchError",
    "ProtocolViolationError",
    "RemoteError",
    "TimeoutError",
    "UnsupportedError",
    # @generated end error-all
]
