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
    "AddressInUseError",
    "BufferTooSmallError",
    "BusyError",
    "CancelledError",
    "ClosedError",
    "Error",
    "InvalidArgumentError",
    "InvalidEndpointError",
    "IoError",
    "MessageTooLargeError",
    "NotFoundError",
    "PeerDisconnectedError",
    "PermissionDeniedError",
    "ProtocolMismatchError",
    "ProtocolViolationError",
    "TimeoutError",
    "UnsupportedError",
]


class Error(Exception):
    """Base class of every libipc error.

    ``kind`` is the core's name of the error kind and ``code`` its stable number (the base
    class itself has kind ``"Error"`` and code 0: it is only raised directly for a code this
    version does not know).
    """

    kind: ClassVar[str] = "Error"
    code: ClassVar[int] = 0


class InvalidEndpointError(Error, ValueError):
    """The endpoint string could not be parsed or names an unusable address."""

    kind = "InvalidEndpoint"
    code = 1


class AddressInUseError(Error, OSError):
    """Something already listens on the endpoint."""

    kind = "AddressInUse"
    code = 2


class NotFoundError(Error, FileNotFoundError, ConnectionRefusedError):
    """Nothing listens on the endpoint."""

    kind = "NotFound"
    code = 3


class PermissionDeniedError(Error, PermissionError):
    """The endpoint, or the peer's credentials, are not allowed."""

    kind = "PermissionDenied"
    code = 4


class PeerDisconnectedError(Error, BrokenPipeError):
    """The peer went away without closing the channel."""

    kind = "PeerDisconnected"
    code = 5


class TimeoutError(Error, builtins.TimeoutError):
    """The operation did not complete within its time limit."""

    kind = "Timeout"
    code = 6


class MessageTooLargeError(Error, ValueError):
    """The message exceeds the channel's ``max_message_size``."""

    kind = "MessageTooLarge"
    code = 7


class ProtocolMismatchError(Error, ConnectionError):
    """The peer speaks an incompatible version of the protocol."""

    kind = "ProtocolMismatch"
    code = 8


class ProtocolViolationError(Error, ConnectionError):
    """The peer sent something the protocol does not allow."""

    kind = "ProtocolViolation"
    code = 9


class ClosedError(Error, EOFError):
    """The channel or listener is closed (by this side or, for receiving, by the peer)."""

    kind = "Closed"
    code = 10


class IoError(Error, OSError):
    """An operating-system error not covered by a more specific kind."""

    kind = "Io"
    code = 11


class UnsupportedError(Error, NotImplementedError):
    """The operation or endpoint kind is not supported here."""

    kind = "Unsupported"
    code = 12


class InvalidArgumentError(Error, ValueError):
    """An argument is out of range or otherwise invalid."""

    kind = "InvalidArgument"
    code = 13


class BufferTooSmallError(Error, ValueError):
    """``recv_into``: the message does not fit the buffer.

    ``needed`` is the message's size; the message is kept for the next receive.
    """

    kind = "BufferTooSmall"
    code = 100

    needed: int

    def __init__(self, *args: object, needed: int = 0) -> None:
        super().__init__(*args)
        self.needed = needed


class BusyError(Error, RuntimeError):
    """This thread holds that side of the channel (an unfinished ``recv_view`` or ``reserve``).

    Waiting for it without a time limit would never end: release, commit or abort it first.
    """

    kind = "Busy"
    code = 102


class CancelledError(Error, InterruptedError):
    """A `libipc.Cancel` handle stopped the call; nothing was lost or half-done."""

    kind = "Cancelled"
    code = 104


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
        BufferTooSmallError,
        BusyError,
        CancelledError,
    )
}

# Shown as libipc.NotFoundError (not libipc._errors.NotFoundError) in tracebacks and reprs;
# pickling finds them there too.
for _cls in (Error, *BY_CODE.values()):
    _cls.__module__ = "libipc"
del _cls
