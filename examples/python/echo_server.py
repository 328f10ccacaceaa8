"""An echo server: every message each client sends comes back to it.

    python examples/python/echo_server.py unix:///tmp/echo.sock     # echoing on unix:///tmp/echo.sock
    python examples/python/client.py unix:///tmp/echo.sock hello "two words"

The endpoint defaults to "demo" (a socket in the runtime directory). One thread per client;
exits 0 on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import libipc


def echo(channel: libipc.Channel) -> None:
    """Send every message back until the client closes the channel."""
    with channel:
        peer = channel.peer
        try:
            for message in channel:  # ends when the client closes
                channel.send(message)
        except libipc.Error as e:
            print(f"client pid={peer.pid}: {e}", file=sys.stderr)


def terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "demo"
    signal.signal(signal.SIGTERM, terminate)
    try:
        with libipc.listen(endpoint) as listener:
            print(f"echoing on {listener.endpoint}", flush=True)
            for channel in listener:
                threading.Thread(target=echo, args=(channel,), daemon=True).start()
    except KeyboardInterrupt:
        pass
    except libipc.Error as e:
        print(f"echo_server: {endpoint}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
