"""The other process of the cross-process tests: ``python helper.py MODE ARGS...``.

Every mode prints one line ``ready ...`` on stdout once it is set up (flushed; run with -u).

Modes:
  echo-server EP             listen at EP, print "ready <endpoint>", echo every message of
                             every client (one at a time) until killed
  echo-client EP             connect, print "ready", echo until the peer closes, exit 0
  peer-info EP               connect, send "<pid> <peer pid> <peer uid>" as one message, then
                             wait until the peer closes
  recv-block EP              connect, print "ready", then block in ch.recv() (no timeout)
  aio-recv-block EP          the same with libipc.aio (await ch.recv())
  accept-block EP            listen, print "ready <endpoint>", then block in accept()
  hold EP                    connect, print "ready", then sleep (to be killed)
  hold-server EP             listen, print "ready <endpoint>", accept one client, print
                             "accepted", then sleep (to be killed)
  stream-send EP N SEED      connect, send N messages from stream_messages(N, SEED), then
                             wait for one reply message and print it; exit 0
  child-echo [twice]         as a child started with a channel: Channel.from_env(), print
                             "ready pid=<peer pid> inheritable=<True|False>" (whether the
                             descriptor would pass to our children), with "twice" open it again
                             and print "second <exception class>", then echo until closed
  from-env                   Channel.from_env(); print "connected" (then echo until closed) or
                             "error <exception class>"; exit 0
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import struct
import sys
import time
import zlib
from collections.abc import Iterator

import libipc

POOL_SIZE = 1 << 20
MAX_PAYLOAD = 64 * 1024


def stream_sizes(n: int, seed: int) -> Iterator[tuple[int, int]]:
    """(offset into the pool, payload size) of n messages: sizes 0..64 KiB, log-uniform-ish
    (so small and large sizes both occur often), every 97th one 0 bytes and every 89th one
    the full 64 KiB."""
    rng = random.Random(seed)
    for i in range(n):
        if i % 97 == 0:
            size = 0
        elif i % 89 == 0:
            size = MAX_PAYLOAD
        else:
            size = min(MAX_PAYLOAD, int(2 ** (rng.random() * 16.01)))
        yield rng.randrange(POOL_SIZE), size


def pool(seed: int) -> bytes:
    data = random.Random(seed ^ 0x5EED).randbytes(POOL_SIZE)
    return data + data[:MAX_PAYLOAD]


def stream_messages(n: int, seed: int) -> Iterator[bytes]:
    """Message i: u32 sequence number, u32 crc32 of the payload, payload."""
    data = pool(seed)
    for i, (off, size) in enumerate(stream_sizes(n, seed)):
        payload = data[off : off + size]
        yield struct.pack("<II", i, zlib.crc32(payload)) + payload


def check_stream(messages: Iterator[bytes], n: int, seed: int) -> int:
    """Check n received messages against the stream; returns the total payload bytes."""
    total = 0
    expected = stream_sizes(n, seed)
    for i, m in enumerate(messages):
        seq, crc = struct.unpack_from("<II", m)
        payload = memoryview(m)[8:]
        _, size = next(expected)
        assert seq == i, f"message {i}: sequence number {seq}"
        assert len(payload) == size, f"message {i}: {len(payload)} bytes, expected {size}"
        assert zlib.crc32(payload) == crc, f"message {i}: bad checksum"
        total += size
        if i + 1 == n:
            break
    else:
        raise AssertionError("the stream ended early")
    return total


def sleep_forever() -> None:
    while True:
        time.sleep(3600)


def child_echo(twice: bool) -> int:
    with libipc.Channel.from_env() as ch:
        fd = int(os.environ["LIBIPC_CHANNEL_FD"])
        print(f"ready pid={ch.peer.pid} inheritable={os.get_inheritable(fd)}", flush=True)
        if twice:
            try:
                libipc.Channel.from_env()
                print("second ok", flush=True)
            except libipc.Error as e:
                print("second", type(e).__name__, flush=True)
        for m in ch:
            ch.send(m)
    return 0


def from_env() -> int:
    try:
        ch = libipc.Channel.from_env(handshake_timeout=30)
    except libipc.Error as e:
        print("error", type(e).__name__, e, flush=True)
        return 0
    print("connected", flush=True)
    with ch:
        for m in ch:
            ch.send(m)
    return 0


def main(argv: list[str]) -> int:
    if argv[0] == "child-echo":
        return child_echo(argv[1:] == ["twice"])
    if argv[0] == "from-env":
        return from_env()
    mode, ep = argv[0], argv[1]
    if mode == "echo-server":
        with libipc.listen(ep) as listener:
            print("ready", listener.endpoint, flush=True)
            for ch in listener:
                with ch:
                    for m in ch:
                        ch.send(m)
        return 0
    if mode == "echo-client":
        with libipc.connect(ep, timeout=30) as ch:
            print("ready", flush=True)
            for m in ch:
                ch.send(m)
        return 0
    if mode == "peer-info":
        with libipc.connect(ep, timeout=30) as ch:
            p = ch.peer
            ch.send(f"{os.getpid()} {p.pid} {p.uid} {p.gid}".encode())
            print("ready", flush=True)
            for _ in ch:
                pass
        return 0
    if mode == "recv-block":
        ch = libipc.connect(ep, timeout=30)
        print("ready", flush=True)
        ch.recv()
        print("recv returned", flush=True)
        return 0
    if mode == "aio-recv-block":
        from libipc import aio

        async def run() -> None:
            ch = await aio.connect(ep, timeout=30)
            print("ready", flush=True)
            await ch.recv()
            print("recv returned", flush=True)

        asyncio.run(run())
        return 0
    if mode == "accept-block":
        listener = libipc.listen(ep)
        print("ready", listener.endpoint, flush=True)
        listener.accept()
        print("accept returned", flush=True)
        return 0
    if mode == "hold":
        ch = libipc.connect(ep, timeout=30)
        print("ready", flush=True)
        sleep_forever()
    if mode == "hold-server":
        listener = libipc.listen(ep)
        print("ready", listener.endpoint, flush=True)
        ch = listener.accept()
        print("accepted", flush=True)
        sleep_forever()
    if mode == "stream-send":
        n, seed = int(argv[2]), int(argv[3])
        with libipc.connect(ep, timeout=30) as ch:
            print("ready", flush=True)
            for m in stream_messages(n, seed):
                ch.send(m)
            print(ch.recv().decode(), flush=True)
        return 0
    print(f"helper.py: unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    # First thing: Ctrl-C (SIGINT) raises KeyboardInterrupt, as the SIGINT tests expect, even
    # when this process inherited SIGINT as ignored (tests run from a background job, under
    # nohup or without a terminal), in which case Python installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main(sys.argv[1:]))
