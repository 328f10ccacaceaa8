"""Zero-copy messages over shared memory: the sender writes each message straight into the
ring (``Channel.reserve`` ... commit) and the receiver reads it where it lies
(``Channel.recv_view``).

    python examples/python/zero_copy.py [shm://name] [count]

A server thread accepts one client and answers every message, written in place, with every
byte incremented by one; the main thread connects, sends `count` messages (default 1000, sizes
0..4096), checks every answer and prints

    zero_copy: <count> round trips over shm://name, all replies correct

and exits 0 (1 on any mismatch or error). The endpoint defaults to shm://zero-copy-<pid>.
"""

from __future__ import annotations

import os
import sys
import threading

import libipc

MAX_LEN = 4096
# Message i is PATTERN[i % 256:][:length_of(i)]: bytes i, i+1, i+2, ... (mod 256).
PATTERN = bytes(range(256)) * (MAX_LEN // 256 + 2)
# bytes.translate table: every byte plus one (mod 256).
INCREMENT = bytes((b + 1) % 256 for b in range(256))


def length_of(i: int) -> int:
    return (i * 37) % (MAX_LEN + 1)


def expected(i: int, plus: int = 0) -> bytes:
    start = (i + plus) % 256
    return PATTERN[start : start + length_of(i)]


def answer(listener: libipc.Listener, failures: list[BaseException]) -> None:
    """The server thread: answer every message in place until the client closes."""
    try:
        with listener.accept(timeout=10.0) as channel:
            while True:
                try:
                    view = channel.recv_view()
                except libipc.ClosedError:
                    return
                # The request stays in the ring while the answer is written into it. (The ring
                # is memory the other process can write: a real program copies what it
                # validates before trusting it.) Memoryviews are released before what they
                # view: the `with` clauses end in reverse order.
                with view, memoryview(view) as request:
                    with channel.reserve(len(request)) as reply, memoryview(reply) as out:
                        out[:] = request.tobytes().translate(INCREMENT)
    except BaseException as e:  # reported by the main thread
        failures.append(e)


def run(endpoint: str, count: int) -> int:
    failures: list[BaseException] = []
    with libipc.listen(endpoint) as listener:
        server = threading.Thread(target=answer, args=(listener, failures))
        server.start()
        try:
            with libipc.connect(listener.endpoint, timeout=10.0) as channel:
                for i in range(count):
                    with channel.reserve(length_of(i), timeout=10.0) as buf, memoryview(buf) as out:
                        out[:] = expected(i)  # write-only: never read it back
                    with channel.recv_view(timeout=10.0) as view, memoryview(view) as got:
                        want = expected(i, plus=1)
                        if got != want:
                            print(
                                f"zero_copy: reply {i} ({len(got)} bytes) differs from the"
                                f" expected {len(want)} bytes",
                                file=sys.stderr,
                            )
                            return 1
        finally:
            listener.close()  # the server thread has accepted, or gives up
            server.join()  # closing the channel ends it
    for e in failures:
        print(f"zero_copy (server): {type(e).__name__}: {e}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    endpoint = argv[1] if len(argv) > 1 else f"shm://zero-copy-{os.getpid()}"
    count = int(argv[2]) if len(argv) > 2 else 1000
    try:
        rc = run(endpoint, count)
    except libipc.Error as e:
        print(f"zero_copy: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if rc == 0:
        print(f"zero_copy: {count} round trips over {endpoint}, all replies correct")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
