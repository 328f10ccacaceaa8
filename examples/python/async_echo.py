"""The asyncio API: an echo server task and a client in one program.

    python examples/python/async_echo.py [endpoint]     # default tcp://127.0.0.1:0

prints the echoes of "one", "two" and "three", one per line, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from libipc import aio


async def echo(channel: aio.AsyncChannel) -> None:
    """Send every message back until the client closes the channel."""
    async with channel:
        async for message in channel:
            await channel.send(message)


async def serve(listener: aio.AsyncListener) -> None:
    """Accept clients, one echo task each, until cancelled."""
    tasks: set[asyncio.Task[None]] = set()
    async for channel in listener:
        task = asyncio.create_task(echo(channel))
        tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(tasks.discard)


async def main(endpoint: str) -> None:
    listener = await aio.listen(endpoint)
    async with listener:
        server = asyncio.create_task(serve(listener))
        channel = await aio.connect(listener.endpoint)  # tcp://127.0.0.1:<the real port>
        async with channel:
            for text in ("one", "two", "three"):
                await channel.send(text.encode())
                reply = await channel.recv()
                print(reply.decode(errors="replace"))
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:0"))
