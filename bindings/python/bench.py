"""libipc against multiprocessing.Pipe (and pyzmq ipc:// when importable), from Python.

    python bindings/python/bench.py [--quick] [--sizes 64,4096,65536]

For each of libipc unix://, libipc shm://, multiprocessing.Pipe (send_bytes/recv_bytes) and
pyzmq PAIR over ipc://, and each message size (64 B, 4 KiB, 64 KiB):

- round trip: this process sends a message, a separate Python process (using the same library)
  echoes it, and this one receives it; p50 and p99 in microseconds;
- one-way throughput: this process sends N messages, the other process receives them all and
  answers once; messages/s and MB/s (1 MB = 10^6 bytes) of payload.

Prints a markdown table; "p50 / Pipe" is the round-trip p50 divided by Pipe's at the same
size. The issue's targets: libipc shm 64 B <= 0.25x Pipe, libipc unix 64 B <= 0.8x Pipe.
Not a test: numbers depend on the machine; nothing is asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

import libipc

try:
    import zmq
except ImportError:  # optional
    zmq = None  # type: ignore[assignment]


class Link(Protocol):
    def send(self, data: bytes) -> None: ...
    def recv(self) -> bytes: ...
    def close(self) -> None: ...


@dataclass
class Result:
    name: str
    size: int
    p50_us: float
    p99_us: float
    msgs_per_s: float
    mb_per_s: float


# ---------------------------------------------------------------------------------------------
# The other process: echo (round trips) or sink (throughput)


def serve(recv: Callable[[], bytes], send: Callable[[bytes], None], mode: str, count: int) -> None:
    if mode == "echo":
        for _ in range(count):
            send(recv())
    else:  # sink
        for _ in range(count):
            recv()
        send(b"done")


def peer_main(argv: list[str]) -> None:
    kind, mode, ep, count = argv[0], argv[1], argv[2], int(argv[3])
    if kind == "libipc":
        with libipc.connect(ep, timeout=30) as ch:
            serve(ch.recv, ch.send, mode, count)
            # wait for the other side to close: nothing lost at the end
            for _ in ch:
                pass
    elif kind == "zmq":
        assert zmq is not None
        ctx = zmq.Context()
        s = ctx.socket(zmq.PAIR)
        s.connect(ep)
        serve(s.recv, s.send, mode, count)
        s.recv()  # "bye"
        s.close(linger=0)
        ctx.term()


def pipe_peer(conn: Connection, mode: str, count: int) -> None:
    serve(conn.recv_bytes, conn.send_bytes, mode, count)
    conn.recv_bytes()  # "bye"
    conn.close()


# ---------------------------------------------------------------------------------------------
# This process: one link per measurement, its peer started fresh


class LibipcLink:
    def __init__(self, endpoint: str, mode: str, count: int) -> None:
        self.listener = libipc.listen(endpoint)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--peer", "libipc", mode, self.listener.endpoint,
             str(count)]
        )
        self.ch = self.listener.accept(timeout=60)
        self.send = self.ch.send
        self.recv = self.ch.recv

    def close(self) -> None:
        self.ch.close()
        self.listener.close()
        if self.proc.wait(timeout=60) != 0:
            raise RuntimeError("the libipc peer failed")


class PipeLink:
    def __init__(self, mode: str, count: int) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=pipe_peer, args=(child, mode, count))
        self.proc.start()
        child.close()
        self.send = self.conn.send_bytes
        self.recv = self.conn.recv_bytes

    def close(self) -> None:
        self.conn.send_bytes(b"bye")
        self.proc.join(timeout=60)
        self.conn.close()


class ZmqLink:
    def __init__(self, path: str, mode: str, count: int) -> None:
        assert zmq is not None
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.PAIR)
        ep = f"ipc://{path}"
        self.sock.bind(ep)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--peer", "zmq", mode, ep, str(count)]
        )
        self.send = self.sock.send
        self.recv = self.sock.recv

    def close(self) -> None:
        self.sock.send(b"bye")
        self.proc.wait(timeout=60)
        self.sock.close(linger=0)
        self.ctx.term()


def percentile(sorted_ns: list[int], q: float) -> float:
    i = min(len(sorted_ns) - 1, int(q * len(sorted_ns)))
    return sorted_ns[i] / 1000.0


def measure(make: Callable[[str, int], Any], size: int, rt_count: int, tp_count: int,
            warmup: int) -> tuple[float, float, float, float]:
    payload = os.urandom(size)
    # round trips
    link = make("echo", warmup + rt_count)
    send, recv = link.send, link.recv
    for _ in range(warmup):
        send(payload)
        recv()
    times = []
    clock = time.perf_counter_ns
    for _ in range(rt_count):
        t0 = clock()
        send(payload)
        reply = recv()
        times.append(clock() - t0)
        if reply != payload:  # same check for every backend, outside the timed part
            raise RuntimeError("the echo differs from what was sent")
    link.close()
    times.sort()
    p50, p99 = percentile(times, 0.50), percentile(times, 0.99)
    # one-way throughput
    link = make("sink", tp_count)
    send, recv = link.send, link.recv
    start = time.perf_counter()
    for _ in range(tp_count):
        send(payload)
    assert recv() == b"done"
    elapsed = time.perf_counter() - start
    link.close()
    return p50, p99, tp_count / elapsed, tp_count * size / elapsed / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few iterations (a smoke run)")
    ap.add_argument("--sizes", default="64,4096,65536", help="message sizes in bytes")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    tmp = tempfile.mkdtemp(prefix="ipcbench-")
    os.chmod(tmp, 0o700)
    os.environ.setdefault("LIBIPC_RUNTIME_DIR", os.path.join(tmp, "run"))
    n = [0]

    def fresh(prefix: str) -> str:
        n[0] += 1
        return f"{prefix}{n[0]}"

    backends: list[tuple[str, Callable[[str, int], Any]]] = [
        ("libipc unix", lambda m, c: LibipcLink(f"unix://{tmp}/{fresh('u')}.sock", m, c)),
        ("libipc shm", lambda m, c: LibipcLink(f"shm://{fresh('bench')}-{os.getpid()}", m, c)),
        ("multiprocessing.Pipe", lambda m, c: PipeLink(m, c)),
    ]
    if zmq is not None:
        backends.append(
            (f"pyzmq {zmq.__version__} PAIR ipc://",
             lambda m, c: ZmqLink(f"{tmp}/{fresh('z')}.ipc", m, c))
        )
    results: list[Result] = []
    try:
        for size in sizes:
            if args.quick:
                rt, tp, warm = 300, 2000, 50
            else:
                rt = 20000 if size <= 4096 else 5000
                tp = max(2000, min(200_000, int(2e9 // max(size, 1) // 4)))
                warm = 1000
            for name, make in backends:
                p50, p99, mps, mbps = measure(make, size, rt, tp, warm)
                results.append(Result(name, size, p50, p99, mps, mbps))
                print(f"  {name:32} {size:>6} B  p50 {p50:8.1f} us  p99 {p99:8.1f} us  "
                      f"{mps:12,.0f} msg/s  {mbps:9.1f} MB/s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    pipe = {r.size: r.p50_us for r in results if r.name == "multiprocessing.Pipe"}
    print()
    print(f"Python {platform.python_version()}, libipc {libipc.__version__}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}"
          + (" (--quick: few iterations, not for comparison)" if args.quick else ""))
    print()
    print("| transport | size | round trip p50 (µs) | p99 (µs) | p50 / Pipe | one-way msgs/s | MB/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = r.p50_us / pipe[r.size] if pipe.get(r.size) else float("nan")
        print(f"| {r.name} | {fmt_size(r.size)} | {r.p50_us:.1f} | {r.p99_us:.1f} | "
              f"{ratio:.2f}x | {r.msgs_per_s:,.0f} | {r.mb_per_s:.1f} |")
    if zmq is None:
        print("\n(pyzmq is not installed: no zmq row)")
    if 64 in pipe:
        by = {(r.name, r.size): r.p50_us for r in results}
        print()
        for name, target in (("libipc shm", 0.25), ("libipc unix", 0.8)):
            ratio = by[(name, 64)] / pipe[64]
            verdict = "meets" if ratio <= target else "MISSES"
            print(f"- {name} 64 B round-trip p50 = {ratio:.2f}x Pipe ({verdict} the target "
                  f"<= {target}x)")
    return 0


def fmt_size(n: int) -> str:
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} B"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        peer_main(sys.argv[2:])
        sys.exit(0)
    sys.exit(main())
