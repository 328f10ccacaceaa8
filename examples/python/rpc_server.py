"""A request/reply server on asyncio: a tiny calculator, the same as examples/rust/rpc_server.rs.
``add 2 3`` is answered ``5``; anything it does not understand gets an error reply with status
400 and a reason. Every request runs as a task of its own.

    python examples/python/rpc_server.py unix:///tmp/calc.sock      # serving on unix:///tmp/calc.sock
    python examples/python/rpc_client.py unix:///tmp/calc.sock "add 2 3" "pow 2 8"

The endpoint defaults to "calc"; exits 0 on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import math
import signal
import sys

import libipc
from libipc import aio


def calculate(text: str) -> int:
    op, *words = text.split() or [""]
    try:
        args = [int(w) for w in words]
    except ValueError as e:
        raise libipc.RemoteError(str(e), status=400) from None
    if op == "add":
        return sum(args)
    if op == "mul":
        return math.prod(args)
    raise libipc.RemoteError(f'unknown operation "{op}"', status=400)


async def handle(request: libipc.Request) -> bytes:
    return str(calculate(request.body.decode(errors="replace"))).encode()


async def main() -> int:
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "calc"
    server = await aio.rpc_listen(endpoint)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.close)
    print(f"serving on {server.endpoint}", flush=True)
    await server.serve(handle)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
