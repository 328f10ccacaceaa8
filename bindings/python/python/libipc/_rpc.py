"""Request/reply helpers on top of `_libipc`'s `RpcServer` / `RpcConnection`: `serve`, which
runs a handler for every request (a thread per client, its requests in order)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from . import _libipc
from ._errors import ClosedError, PeerDisconnectedError, RemoteError

__all__ = ["PANIC_STATUS", "fault", "serve"]

# The status of the error reply to a request whose handler raised something other than
# `RemoteError` (the core's status for a handler that panicked).
PANIC_STATUS = 0xFFFFFFFF


def fault(exc: BaseException) -> tuple[int, str]:
    """The status and text of the error reply a handler's exception becomes: a `RemoteError`'s
    own `status` and message; anything else `PANIC_STATUS` and ``"<Type>: <message>"``."""
    if isinstance(exc, RemoteError):
        return (exc.status or 1), exc.text
    return PANIC_STATUS, f"{type(exc).__name__}: {exc}"


def _serve_connection(conn: _libipc.RpcConnection, handler: Callable[[_libipc.Request], Any]) -> None:
    with conn:
        while True:
            try:
                req = conn.recv()
            except (ClosedError, PeerDisconnectedError):
                return
            try:
                body = handler(req)
            except Exception as e:  # the handler's failure is the client's error reply
                status, text = fault(e)
                try:
                    conn.reply_error(req.id, status, text)
                except (ClosedError, PeerDisconnectedError):
                    return
                continue
            try:
                conn.reply(req.id, body)
            except (ClosedError, PeerDisconnectedError):
                return


def serve(server: _libipc.RpcServer, handler: Callable[[_libipc.Request], Any]) -> None:
    """Answer every client of `server` with `handler` until the server is closed: each client
    on a thread of its own, its requests one after another. `handler(request)` returns the
    reply (any buffer); raising `RemoteError(text, status=N)` answers with that error, any
    other exception with `PANIC_STATUS` and its text."""
    while True:
        try:
            conn = server.accept()
        except ClosedError:
            return
        threading.Thread(target=_serve_connection, args=(conn, handler), daemon=True).start()
