"""ping: timed round trips through the Python API against `ipc listen --echo ENDPOINT`; the
Python twin of bench/c/ping.c, so scripts/bench-compare.sh (ipc-compare) can put the two side by
side.

    python bench/python/ping.py ENDPOINT COUNT SIZE

Prints one line: count, p50 and p99 round-trip time in microseconds (ping.c's format). Like
ping.c it does no warm-up of its own (the caller runs one). Exit status 2: bad arguments; 1: an
IPC error or an echo that differs from what was sent.
"""

import sys
import time

import libipc


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: ping ENDPOINT COUNT SIZE", file=sys.stderr)
        return 2
    try:
        count, size = int(argv[2]), int(argv[3])
    except ValueError:
        count = size = 0
    if count < 1 or size < 8:
        print("ping: COUNT must be >= 1 and SIZE >= 8", file=sys.stderr)
        return 2
    try:
        ch = libipc.connect(argv[1])
    except libipc.Error as e:
        print(f"ping: connect: {e}", file=sys.stderr)
        return 1
    payload = bytearray(i % 251 for i in range(size))
    times = [0] * count
    clock = time.perf_counter_ns
    with ch:
        for i in range(count):
            # Stamp the sequence number so a stale echo cannot pass for this one.
            payload[:8] = i.to_bytes(8, sys.byteorder)
            start = clock()
            try:
                ch.send(payload)
            except libipc.Error as e:
                print(f"ping: send: {e}", file=sys.stderr)
                return 1
            try:
                # recv_view: the zero-copy receive, the fastest documented one (over shm the
                # echo stays in the ring until released). ping.c uses ipc_channel_recv.
                echo = ch.recv_view(10.0)
            except libipc.Error as e:
                print(f"ping: recv: {e}", file=sys.stderr)
                return 1
            times[i] = clock() - start
            with echo:
                same = echo.tobytes() == payload  # checked outside the timed part, as in ping.c
            if not same:
                print(f"ping: round trip {i + 1}: the echo differs from what was sent",
                      file=sys.stderr)
                return 1
    times.sort()
    p50 = times[(count - 1) // 2] / 1000.0
    p99 = times[(count * 99 - 1) // 100] / 1000.0
    print(f"count {count}  p50 {p50:.2f}  p99 {p99:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
