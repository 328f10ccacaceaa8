"""A publisher: waits for the given number of subscribers, publishes each ``topic=payload``
argument, then closes (each subscriber gets everything, then the end).

    python pubsub_publisher.py <endpoint> <subscribers> <topic=payload>...
"""

from __future__ import annotations

import sys

import libipc


def main() -> None:
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "ticker"
    subscribers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    with libipc.publisher(endpoint) as publisher:
        publisher.wait_for_subscribers(subscribers)
        for arg in sys.argv[3:]:
            topic, _, payload = arg.partition("=") if "=" in arg else ("", "", arg)
            publisher.publish(payload.encode(), topic)


if __name__ == "__main__":
    main()
