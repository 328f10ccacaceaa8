"""The other process of the cross-process tests: ``python helper.py COMMAND ARGS...``.

The interop contract (tests/interop/README.md, the spec: commands, output, cases), spoken by
every language's peer alike; the interop matrix (tests/interop/run.py) and other languages'
tests (Node, Kotlin) start these, and so do this suite's cross-process tests:
  server --endpoint E [--max-message N]
                             listen at E, print "READY <endpoint>", echo every client on a
                             thread of its own ("interop:close" closes that channel,
                             "interop:kill" SIGKILLs this process) until stdin reaches EOF,
                             then exit 0
  client --endpoint E --case A,B,... [--max-message N]
                             run each case on a new channel; print "PASS <case>", "FAIL <case>
                             <reason>" or "UNSUPPORTED <case>"; exit 1 if any failed, else 127
                             if any was unsupported, else 0

Modes particular to the Python suite (tests/test_cross_process.py, test_gil_signals.py,
test_spawn.py); each prints one line "ready ..." on stdout once it is set up (flushed; run
with -u):
  peer-info EP               connect, send "<pid> <peer pid> <peer uid>" as one message, then
                             wait until the peer closes
  recv-block EP              connect, print "ready", then block in ch.recv() (no timeout)
  aio-recv-block EP          the same with libipc.aio (await ch.recv())
  accept-block EP            listen, print "ready <endpoint>", then block in accept()
  stream-send EP N SEED      connect, print "ready", send N messages from
                             stream_messages(N, SEED), then wait for one reply message and
                             print it; exit 0
  child-echo [twice]         as a child started with a channel: Channel.from_env(), print
                             "ready pid=<peer pid> inheritable=<True|False>" (whether the
                             descriptor would pass to our children), with "twice" open it again
                             and print "second <exception class>", then echo until closed
  from-env                   Channel.from_env(); print "connected" (then echo until closed) or
                             "error <exception class>"; exit 0
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import signal
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator

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

# ---------------------------------------------------------------------------------------------
# The interop peer (tests/interop/README.md).

INTEROP_CLOSE = b"interop:close"
INTEROP_KILL = b"interop:kill"


def pattern(n: int) -> bytes:
    """The n bytes whose byte i is i % 251."""
    return (bytes(range(251)) * (n // 251 + 1))[:n]


def interop(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="helper.py", description="the interop peer")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server")
    server.add_argument("--endpoint", required=True)
    server.add_argument("--max-message", type=int)
    client = commands.add_parser("client")
    client.add_argument("--endpoint", required=True)
    client.add_argument("--case", required=True)
    client.add_argument("--max-message", type=int)
    rpc_server = commands.add_parser("rpc-server")
    rpc_server.add_argument("--endpoint", required=True)
    rpc_server.add_argument("--max-message", type=int)
    publisher = commands.add_parser("publisher")
    publisher.add_argument("--endpoint", required=True)
    publisher.add_argument("--max-message", type=int)
    args = parser.parse_args(argv)
    if args.command == "server":
        return interop_server(args.endpoint, args.max_message)
    if args.command == "rpc-server":
        return interop_rpc_server(args.endpoint, args.max_message)
    if args.command == "publisher":
        return interop_publisher(args.endpoint, args.max_message)
    return interop_client(args.endpoint, args.case.split(","), args.max_message)


def interop_server(endpoint: str, max_message: int | None) -> int:
    try:
        listener = libipc.listen(endpoint, max_message_size=max_message)
    except libipc.Error as e:
        print(f"ERROR {e.kind} {str(e).removeprefix(e.kind + ': ')}", file=sys.stderr, flush=True)
        return 1
    print("READY", listener.endpoint, flush=True)

    def serve(ch: libipc.Channel) -> None:
        try:
            with ch:
                while True:
                    m = ch.recv()
                    if m == INTEROP_CLOSE:
                        return  # leaving `with ch:` closes it (CLOSE)
                    if m == INTEROP_KILL:
                        os.kill(os.getpid(), signal.SIGKILL)
                    ch.send(m)
        except libipc.ClosedError:
            pass  # the client closed: the ordinary end
        except libipc.Error as e:
            print(f"END {e.kind}", file=sys.stderr, flush=True)

    def accept_all() -> None:
        while True:
            try:
                ch = listener.accept()
            except libipc.ClosedError:
                return
            except libipc.Error as e:
                print(f"END {e.kind} (accept)", file=sys.stderr, flush=True)
                continue
            threading.Thread(target=serve, args=(ch,), daemon=True).start()

    threading.Thread(target=accept_all, daemon=True).start()
    while sys.stdin.buffer.read(65536):
        pass
    listener.close()
    # Connections may still be served, their threads blocked in the library: end here, without
    # waiting for them (or for the interpreter's shutdown, which daemon threads can hold up).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def rpc_answer(req: libipc.Request) -> bytes:
    """The contract's request/reply server: ``fail:<status>:<text>`` is answered with that
    error, anything else with itself."""
    if req.body.startswith(b"fail:"):
        status, _, text = req.body[5:].decode(errors="replace").partition(":")
        raise libipc.RemoteError(text, status=int(status or 1))
    return req.body


def interop_rpc_server(endpoint: str, max_message: int | None) -> int:
    try:
        server = libipc.rpc_listen(endpoint, max_message_size=max_message)
    except libipc.Error as e:
        print(f"ERROR {e.kind} {str(e).removeprefix(e.kind + ': ')}", file=sys.stderr, flush=True)
        return 1
    print("READY", server.endpoint, flush=True)
    threading.Thread(target=libipc.serve, args=(server, rpc_answer), daemon=True).start()
    while sys.stdin.buffer.read(65536):
        pass
    server.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def stream_topic(i: int) -> bytes:
    """The contract's publisher stream: message `i`'s topic and payload."""
    return b"odd" if i % 2 else b"even"


def stream_payload(i: int) -> bytes:
    return i.to_bytes(8, "little") + pattern(i % 1000)


def interop_publisher(endpoint: str, max_message: int | None) -> int:
    try:
        p = libipc.publisher(endpoint, overflow="block", block_timeout=30, max_message_size=max_message)
    except libipc.Error as e:
        print(f"ERROR {e.kind} {str(e).removeprefix(e.kind + ': ')}", file=sys.stderr, flush=True)
        return 1
    print("READY", p.endpoint, flush=True)
    stop = threading.Event()

    def publish() -> None:
        i = 0
        while not stop.is_set():
            if p.subscribers == 0:  # nothing while nobody listens
                time.sleep(0.01)
                continue
            p.publish(stream_payload(i), stream_topic(i))
            i += 1
            time.sleep(0.001)

    t = threading.Thread(target=publish, daemon=True)
    t.start()
    while sys.stdin.buffer.read(65536):
        pass
    stop.set()
    t.join()
    p.close(timeout=10)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class CaseFailed(Exception):
    pass


def subscription(endpoint: str, max_message: int | None, topics: list[str], count: int, step: int) -> None:
    """Receive `count` messages: numbered 0, 1, ... with nothing dropped, topics and payloads
    as the stream makes them, indices `step` apart."""
    with libipc.subscribe(endpoint, topics, max_message_size=max_message) as s:
        first = None
        for k in range(count):
            d = s.recv(timeout=60)
            i = int.from_bytes(d.payload[:8], "little")
            if first is None:
                first = i
            if (d.seq, d.dropped) != (k, 0):
                raise CaseFailed(f"message {k}: sequence number {d.seq} and {d.dropped} dropped")
            if i != first + k * step:
                raise CaseFailed(f"message {k}: index {i}, expected {first + k * step}")
            if d.topic != stream_topic(i) or d.payload != stream_payload(i):
                raise CaseFailed(f"message {k} (index {i}): wrong topic or payload")


def sub_all(endpoint: str, max_message: int | None) -> None:
    subscription(endpoint, max_message, [], 500, 1)


def sub_topic(endpoint: str, max_message: int | None) -> None:
    subscription(endpoint, max_message, ["odd"], 250, 2)


def rpc_echo(endpoint: str, max_message: int | None) -> None:
    with libipc.rpc_connect(endpoint, max_message_size=max_message) as c:
        expect_same("reply", c.call(pattern(1000)), pattern(1000))
        expect_same("empty reply", c.call(b""), b"")


def rpc_error(endpoint: str, max_message: int | None) -> None:
    with libipc.rpc_connect(endpoint, max_message_size=max_message) as c:
        try:
            c.call(b"fail:42:no such thing")
        except libipc.RemoteError as e:
            if e.status != 42 or e.text != "no such thing":
                raise CaseFailed(f"error reply {e.status} {e.text!r}") from None
        else:
            raise CaseFailed("expected a RemoteError, the call succeeded")
        expect_same("reply after the error", c.call(b"x"), b"x")


def rpc_many(endpoint: str, max_message: int | None) -> None:
    with libipc.rpc_connect(endpoint, max_message_size=max_message) as c:
        pending = [(i, c.start(i.to_bytes(4, "little"))) for i in range(200)]
        for i, p in reversed(pending):
            expect_same("reply", p.wait(timeout=30), i.to_bytes(4, "little"))


def rpc_plain_refused(endpoint: str, max_message: int | None) -> None:
    expect_error(
        libipc.ProtocolMismatchError,
        "a plain channel's connect",
        lambda: libipc.connect(endpoint, max_message_size=max_message),
    )


RPC_CASES: dict[str, Callable[[str, int | None], None]] = {
    "rpc-echo": rpc_echo,
    "rpc-error": rpc_error,
    "rpc-many": rpc_many,
    "rpc-plain-refused": rpc_plain_refused,
    "sub-all": sub_all,
    "sub-topic": sub_topic,
    "sub-plain-refused": rpc_plain_refused,
}


def describe(data: bytes) -> str:
    return f"{len(data)} bytes" + (f" starting {data[:8].hex()}" if data else "")


def expect_same(what: str, got: bytes, sent: bytes) -> None:
    if got == sent:
        return
    if len(got) != len(sent):
        raise CaseFailed(f"{what}: expected {describe(sent)}, got {describe(got)}")
    first = next(i for i in range(len(got)) if got[i] != sent[i])
    raise CaseFailed(f"{what}: {len(got)} bytes as sent, but byte {first} is {got[first]:#04x}, not {sent[first]:#04x}")


def expect_error(kind: type[libipc.Error], what: str, call: Callable[[], object]) -> None:
    try:
        result = call()
    except kind:
        return
    except libipc.Error as e:
        raise CaseFailed(f"{what}: expected {kind.kind}, got {e.kind} ({e})") from None
    got = describe(result) if isinstance(result, bytes) else repr(result)
    raise CaseFailed(f"{what}: expected {kind.kind}, but it succeeded ({got})")


def echo(ch: libipc.Channel, message: bytes) -> None:
    ch.send(message)
    expect_same("the reply", ch.recv(), message)


def case_over_max(ch: libipc.Channel) -> None:
    m = ch.max_message_size
    expect_error(libipc.MessageTooLargeError, f"sending {m + 1} bytes (the limit {m})",
                 lambda: ch.send(pattern(m + 1)))
    echo(ch, b"\x2a")


def case_random_10k(ch: libipc.Channel) -> None:
    rng = random.Random()
    n, window = 10_000, 8
    in_flight: collections.deque[bytes] = collections.deque()

    def send(i: int) -> None:
        body = rng.randbytes(rng.randint(0, 1024))
        m = struct.pack("<II", i, zlib.crc32(body)) + body
        ch.send(m)
        in_flight.append(m)

    for i in range(min(window, n)):
        send(i)
    for i in range(n):
        got = ch.recv()
        expect_same(f"reply {i}", got, in_flight.popleft())
        seq, crc = struct.unpack_from("<II", got)
        if seq != i or zlib.crc32(memoryview(got)[8:]) != crc:
            raise CaseFailed(f"reply {i}: sequence number {seq}, or the CRC-32 of its body does not match")
        if i + window < n:
            send(i + window)


def case_server_close(ch: libipc.Channel) -> None:
    m = pattern(100)
    for _ in range(3):
        ch.send(m)
    for i in range(3):
        expect_same(f"reply {i}", ch.recv(), m)
    ch.send(INTEROP_CLOSE)
    expect_error(libipc.ClosedError, "the receive after interop:close", ch.recv)


def case_server_killed(ch: libipc.Channel) -> None:
    echo(ch, pattern(100))
    ch.send(INTEROP_KILL)
    expect_error(libipc.PeerDisconnectedError, "the receive after interop:kill", ch.recv)


CASES: dict[str, Callable[[libipc.Channel], None]] = {
    "empty": lambda ch: echo(ch, b""),
    "one-byte": lambda ch: echo(ch, b"\x2a"),
    "all-bytes": lambda ch: echo(ch, bytes(range(256))),
    "non-utf8": lambda ch: echo(ch, bytes.fromhex("fffefd00c328a0a1e28228f09028bc80")),
    "64k": lambda ch: echo(ch, pattern(65536)),
    "1m": lambda ch: echo(ch, pattern(1 << 20)),
    "max-size": lambda ch: echo(ch, pattern(ch.max_message_size)),
    "over-max": case_over_max,
    "random-10k": case_random_10k,
    "server-close": case_server_close,
    "server-killed": case_server_killed,
}


def interop_client(endpoint: str, cases: list[str], max_message: int | None) -> int:
    failed = unsupported = False
    for name in cases:
        rpc = RPC_CASES.get(name)
        if rpc is not None:
            try:
                rpc(endpoint, max_message)
            except CaseFailed as e:
                print("FAIL", name, " ".join(str(e).split()), flush=True)
                failed = True
            except Exception as e:
                kind = e.kind if isinstance(e, libipc.Error) else type(e).__name__
                print("FAIL", name, f"unexpected {kind}:", " ".join(str(e).split()), flush=True)
                failed = True
            else:
                print("PASS", name, flush=True)
            continue
        run = CASES.get(name)
        if run is None:
            print("UNSUPPORTED", name, flush=True)
            unsupported = True
            continue
        try:
            try:
                ch = libipc.connect(endpoint, max_message_size=max_message)
            except libipc.Error as e:
                raise CaseFailed(f"connect: {e.kind} ({e})") from None
            try:
                run(ch)
            finally:
                try:
                    ch.close()
                except libipc.Error:
                    pass
        except CaseFailed as e:
            reason = str(e)
        except Exception as e:  # anything else fails the case, with what it was
            kind = e.kind if isinstance(e, libipc.Error) else type(e).__name__
            reason = f"unexpected {kind}: {e}"
        else:
            print("PASS", name, flush=True)
            continue
        print("FAIL", name, " ".join(reason.split()), flush=True)
        failed = True
    return 1 if failed else 127 if unsupported else 0


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("server", "client", "rpc-server", "publisher"):
        return interop(argv)
    if argv[0] == "child-echo":
        return child_echo(argv[1:] == ["twice"])
    if argv[0] == "from-env":
        return from_env()
    mode, ep = argv[0], argv[1]
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
