"""A client: connects to the endpoint in argv[1], sends each further argument as a message and
prints each reply on its own line (the Python twin of examples/rust/client.rs and
examples/c/client.c).

    python examples/python/client.py unix:///tmp/echo.sock hello "two words"
"""

from __future__ import annotations

import os
import sys

import libipc


def main(argv: list[str]) -> int:
    endpoint = argv[1] if len(argv) > 1 else "demo"
    out = sys.stdout.buffer
    try:
        with libipc.connect(endpoint, timeout=5.0) as channel:
            for text in argv[2:]:
                channel.send(os.fsencode(text))  # the argument's bytes, as the C client sends them
                reply = channel.recv(timeout=5.0)
                out.write(reply + b"\n")
    except libipc.Error as e:
        print(f"client: {endpoint}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
