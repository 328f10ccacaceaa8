"""A subscriber: subscribes to the topics starting with any of the given prefixes (none: every
topic) and prints ``topic: payload`` for each message until the publisher closes, and how many
messages were dropped for it if any were.

    python pubsub_subscriber.py <endpoint> [prefix]...
"""

from __future__ import annotations

import sys

import libipc


def main() -> None:
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "ticker"
    with libipc.subscribe(endpoint, sys.argv[2:], timeout=10) as subscriber:
        for m in subscriber:
            if m.dropped:
                print(f"({m.dropped} dropped)")
            print(f"{m.topic.decode(errors='replace')}: {m.payload.decode(errors='replace')}", flush=True)


if __name__ == "__main__":
    main()
