"""Cancellation-safe waiting for the asyncio classes (used by ``src/aio.rs``).

A received message (or accepted channel) is first put into the object's inbox by the awaited
Rust future (``_fill``), and only then taken out synchronously (``_take``). If the awaiting
task is cancelled after the Rust side received something, the item stays in the inbox and
the next ``recv()`` / ``accept()`` returns it: nothing is lost.
"""

from typing import Any

from ._errors import ClosedError


async def take_or_fill(obj: Any) -> Any:
    """The next item of `obj`'s inbox, waiting for the core to deliver one if it is empty."""
    while True:
        item = obj._take()
        if item is not None:
            return item
        await obj._fill()


async def next_or_stop(obj: Any) -> Any:
    """`take_or_fill` for ``async for``: an orderly close ends the iteration."""
    try:
        return await take_or_fill(obj)
    except ClosedError:
        raise StopAsyncIteration from None
