"""The exception hierarchy of libipc.

`Error` is the base. Each error kind of the core has a subclass that also subclasses the
matching builtin exception, so ordinary ``except`` clauses work::

    try:
        ch = libipc.connect("demo")
    except FileNotFoundError:          # catches libipc.NotFoundError
        ...

Every class has ``kind`` (the core's name of the error kind) and ``code`` (the stable number,
the same in every language and on the wire). ``BY_CODE`` maps a code to its class; the
extension module raises errors through it.
"""

from __future__ import annotations

import builtins
from typing import ClassVar

__all__ = [
    "BY_CODE",
    # @generated begin error-names (cargo xtask tables; do not edit)
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
    # @generated end error-names
]


class Error(Exception):
    """Base class of every libipc error.

    ``kind`` is the core's name of the error kind and ``code`` its stable number (the base
    class itself has kind ``"Error"`` and code 0: it is only raised directly for a code this
    version does not know).
    """

    kind: ClassVar[str] = "Error"
    code: ClassVar[int] = 0


# @generated begin error-classes (cargo xtask tables; do not edit)
class InvalidEndpointError(Error, ValueError):
    """The endpoint string could not be parsed or names something unusable."""

    kind = "InvalidEndpoint"
    code = 1


class AddressInUseError(Error, OSError):
    """Something already lives at the address: a live listener, or a file that is not a socket."""

    kind = "AddressInUse"
    code = 2


class NotFoundError(Error, FileNotFoundError, ConnectionRefusedError):
    """Nobody is listening at the endpoint."""

    kind = "NotFound"
    code = 3


class PermissionDeniedError(Error, PermissionError):
    """The OS or the peer refused access: file permissions, or a uid allow-list."""

    kind = "PermissionDenied"
    code = 4


class PeerDisconnectedError(Error, BrokenPipeError):
    """The peer went away without closing the channel: crash, kill, reset."""

    kind = "PeerDisconnected"
    code = 5


class TimeoutError(Error, builtins.TimeoutError):
    """The operation did not complete before its timeout; nothing was lost."""

    kind = "Timeout"
    code = 6


class MessageTooLargeError(Error, ValueError):
    """A message is larger than the limit this side or the peer advertised."""

    kind = "MessageTooLarge"
    code = 7


class ProtocolMismatchError(Error, ConnectionError):
    """The peer speaks an incompatible protocol version."""

    kind = "ProtocolMismatch"
    code = 8


class ProtocolViolationError(Error, ConnectionError):
    """The peer sent malformed data; the channel is closed."""

    kind = "ProtocolViolation"
    code = 9


class ClosedError(Error, EOFError):
    """The channel or listener was closed, by this side or by the peer in an orderly way."""

    kind = "Closed"
    code = 10


class IoError(Error, OSError):
    """Any other operating-system error."""

    kind = "Io"
    code = 11


class UnsupportedError(Error, NotImplementedError):
    """The transport or feature is not available in this build or on this platform."""

    kind = "Unsupported"
    code = 12


class InvalidArgumentError(Error, ValueError):
    """An argument or option is out of range or inconsistent."""

    kind = "InvalidArgument"
    code = 13


class LaggedError(Error, ConnectionError):
    """The publisher cut this subscriber off: it stayed behind for longer than the publisher's block
    timeout; the messages after the last one it received did not reach it.
    """

    kind = "Lagged"
    code = 14


class BufferTooSmallError(Error, ValueError):
    """``recv_into``: the message does not fit the buffer. ``needed`` is the message's size; the
    message is kept for the next receive.
    """

    kind = "BufferTooSmall"
    code = 100

    needed: int

    def __init__(self, *args: object, needed: int = 0) -> None:
        super().__init__(*args)
        self.needed = needed


class BusyError(Error, RuntimeError):
    """This thread holds that side of the channel (an unfinished ``recv_view`` or ``reserve``);
    waiting for it without a time limit would never end: release, commit or abort it first.
    """

    kind = "Busy"
    code = 102


class CancelledError(Error, InterruptedError):
    """A `libipc.Cancel` handle stopped the call; nothing was lost or half-done."""

    kind = "Cancelled"
    code = 104


class RemoteError(Error):
    """A request/reply server's handler answered with an error: `status` has its status, `text` its
    text. The channel is fine.
    """

    kind = "Remote"
    code = 105

    status: int
    text: str

    def __init__(self, *args: object, status: int = 0, text: str | None = None) -> None:
        super().__init__(*args)
        self.status = status
        self.text = text if text is not None else (str(args[0]) if args else "")


BY_CODE: dict[int, type[Error]] = {
    cls.code: cls
    for cls in (
        InvalidEndpointError,
        AddressInUseError,
        NotFoundError,
        PermissionDeniedError,
        PeerDisconnectedError,
        TimeoutError,
        MessageTooLargeError,
        ProtocolMismatchError,
        ProtocolViolationError,
        ClosedError,
        IoError,
        UnsupportedError,
        InvalidArgumentError,
        LaggedError,
        BufferTooSmallError,
        BusyError,
        CancelledError,
        RemoteError,
    )
}
# @generated end error-classes

# Shown as libipc.NotFoundError (not libipc._errors.NotFoundError) in tracebacks and reprs;
# pickling finds them there too.
for _cls in (Error, *BY_CODE.values()):
    _cls.__module__ = "libipc"
del _cls
