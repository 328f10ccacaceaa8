"""Publish/subscribe: `publisher` / `subscribe` in this process over every transport (topics,
order, the end after close), drop-oldest reporting its drops, block cutting off a stuck
subscriber (`LaggedError`), refusals and bad arguments; the asyncio forms; and a Rust
publisher in another process (`ipc-test-peer publish`) read by Python subscribers."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import threading

import pytest

import libipc
from libipc import aio

from conftest import listen_endpoint


def test_fan_out_with_topics(transport: str) -> None:
    with libipc.publisher(listen_endpoint(transport), overflow="block", block_timeout=30) as p:
        everything = libipc.subscribe(p.endpoint)
        cams = libipc.subscribe(p.endpoint, ["cam/", b"img/"])
        assert p.subscribers == 2
        assert cams.topics == [b"cam/", b"img/"]
        for i in range(200):
            topic = ("cam/%d" % i) if i % 2 else b"log"
            assert p.publish(b"m%d" % i, topic) == (2 if i % 2 else 1)
        p.publish(b"img", topic="img/x")
        assert p.close()
    got = list(everything)
    assert [d.payload for d in got] == [b"m%d" % i for i in range(200)] + [b"img"]
    assert [d.seq for d in got] == list(range(201))
    assert all(d.dropped == 0 for d in got)
    cam = list(cams)
    assert [d.topic for d in cam] == [b"cam/%d" % i for i in range(1, 200, 2)] + [b"img/x"]
    assert [d.seq for d in cam] == list(range(101))
    with pytest.raises(libipc.ClosedError):
        everything.recv(timeout=1)
    with pytest.raises(libipc.ClosedError):
        p.publish(b"late")


def test_drop_oldest_reports_what_was_dropped() -> None:
    p = libipc.publisher(listen_endpoint("unix"), depth=4)
    s = libipc.subscribe(p.endpoint)
    total = 3000
    for i in range(total):
        p.publish(struct.pack("<Q", i) + bytes(8000))
    closer = threading.Thread(target=p.close)
    closer.start()
    received = dropped = 0
    last = -1
    for d in s:
        assert struct.unpack_from("<Q", d.payload)[0] == d.seq
        assert d.seq == last + 1 + d.dropped
        last = d.seq
        received += 1
        dropped += d.dropped
    closer.join()
    assert (received + dropped, last) == (total, total - 1)
    assert dropped == s.dropped == p.stats[2] > 0


def test_block_cuts_off_a_stuck_subscriber() -> None:
    p = libipc.publisher(listen_endpoint("unix"), overflow="block", block_timeout=0.2, depth=4)
    good = libipc.subscribe(p.endpoint)
    stuck = libipc.subscribe(p.endpoint)
    got: list[int] = []

    def read() -> None:
        got.extend(d.seq for d in good)

    t = threading.Thread(target=read)
    t.start()
    for i in range(1000):
        p.publish(bytes(64 * 1024))
    assert p.stats[3] == 1  # cut_off
    p.close()
    t.join()
    assert got == list(range(1000))
    with pytest.raises(libipc.LaggedError) as e:
        while True:
            stuck.recv(timeout=10)
    assert isinstance(e.value, ConnectionError)


def test_refusals_and_bad_arguments() -> None:
    p = libipc.publisher(listen_endpoint("unix"))
    with pytest.raises(libipc.ProtocolMismatchError):
        libipc.connect(p.endpoint, timeout=5)
    with pytest.raises(libipc.InvalidArgumentError):
        libipc.publisher(listen_endpoint("unix"), overflow="sometimes")
    with pytest.raises(libipc.InvalidArgumentError):
        libipc.publisher(listen_endpoint("unix"), depth=0)
    with pytest.raises(libipc.InvalidArgumentError):
        libipc.subscribe(p.endpoint, b"one-prefix")
    with pytest.raises(libipc.InvalidArgumentError):
        libipc.subscribe(p.endpoint, ["x"] * 65)
    with pytest.raises(libipc.InvalidArgumentError):
        p.publish(b"", topic=b"t" * 1025)
    lst = libipc.listen(listen_endpoint("unix"))
    with pytest.raises(libipc.ProtocolMismatchError):
        libipc.subscribe(lst.endpoint, timeout=5)
    s = libipc.subscribe(p.endpoint)
    assert s.try_recv() is None
    with pytest.raises(libipc.TimeoutError):
        s.recv(timeout=0.01)
    p.close()


def test_asyncio_forms() -> None:
    async def main() -> None:
        p = await aio.publisher(listen_endpoint("unix"), overflow="block", block_timeout=30)
        s = await aio.subscribe(p.endpoint, ["even"])
        await p.wait_for_subscribers(1, timeout=10)

        async def read() -> list[int]:
            return [struct.unpack("<Q", d.payload)[0] async for d in s]

        reader = asyncio.create_task(read())
        for i in range(500):
            await p.publish(struct.pack("<Q", i), "even" if i % 2 == 0 else "odd")
        assert await p.close()
        assert await reader == list(range(0, 500, 2))
        assert s.dropped == 0

        q = await aio.publisher(listen_endpoint("unix"), depth=2)
        t = await aio.subscribe(q.endpoint)
        # A pending recv cancelled loses nothing.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(t.recv(), 0.05)
        await q.publish(b"after")
        assert (await t.recv()).payload == b"after"
        await q.close()
        await t.close()

    asyncio.run(main())


def test_rust_publisher_in_another_process(test_peer_bin: str) -> None:
    ep = listen_endpoint("unix")
    proc = subprocess.Popen(
        [test_peer_bin, "publish", ep, "--subscribers", "2", "--count", "20000",
         "--block-ms", "60000", "--size", "100"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "ready"
        subs = [libipc.subscribe(ready[1], timeout=10) for _ in range(2)]
        counts = [0, 0]

        def read(k: int) -> None:
            for d in subs[k]:
                assert (d.seq, d.dropped, len(d.payload)) == (counts[k], 0, 100)
                assert struct.unpack_from("<Q", d.payload)[0] == d.seq
                counts[k] += 1

        threads = [threading.Thread(target=read, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert counts == [20000, 20000]
        assert proc.stdout.readline().strip() == "done published 20000 dropped 0 cut_off 0"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
