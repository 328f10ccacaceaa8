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
"""

from ._libipc import AsyncChannel, AsyncListener
from ._libipc import aio_connect as connect
from ._libipc import aio_listen as listen

__all__ = ["AsyncChannel", "AsyncListener", "connect", "listen"]
