"""A request/reply client: sends every argument as a request, all at once (many requests may be
in flight on one connection), then prints each reply in order, or the error reply (like
examples/rust/rpc_client.rs).

    python examples/python/rpc_client.py unix:///tmp/calc.sock "add 2 3" "mul 4 5 6" "pow 2 8"
    # 5
    # 120
    # error 400: unknown operation "pow"
"""

from __future__ import annotations

import sys

import libipc


def main() -> int:
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "calc"
    with libipc.rpc_connect(endpoint, timeout=5) as client:
        pending = [client.start(text.encode()) for text in sys.argv[2:]]
        for call in pending:
            try:
                print(call.wait(timeout=5).decode())
            except libipc.RemoteError as e:
                print(f"error {e.status}: {e.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
