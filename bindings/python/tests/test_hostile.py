"""A hostile server (the Rust ipc-test-peer's hostile-server mode: raw bytes on a Unix socket)
gets this process the documented Python error, never a crash; the process (a child Python
victim, whose exit status is checked) goes on working afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import unique

VICTIM = r"""
import sys
import libipc
ep, attack = sys.argv[1], sys.argv[2]
try:
    ch = libipc.connect(ep)
except libipc.Error as e:
    print("connect", type(e).__name__)
else:
    if attack == "desync":
        print("message", ch.recv(10.0).decode())
    for _ in range(2):
        try:
            ch.recv(10.0)
            print("no error")
        except libipc.Error as e:
            print("recv", type(e).__name__, e.code)
    ch.close()
a, b = libipc.Channel.pair()
a.send(b"still here")
print("alive", b.recv(10.0).decode())
"""

CASES = [
    ("huge-length", ["recv MessageTooLargeError 7"] * 2),
    ("bad-type", ["recv ProtocolViolationError 9"] * 2),
    ("desync", ["message ok"] + ["recv ProtocolViolationError 9"] * 2),
    ("garbage-hello", ["connect ProtocolViolationError"]),
]


@pytest.mark.parametrize("attack,expected", CASES)
def test_hostile_server_gets_the_documented_error(
    attack: str, expected: list[str], test_peer_bin: str, tmp_path: Path
) -> None:
    ep = f"unix://{tmp_path / unique('hostile')}.sock"
    server = subprocess.Popen(
        [test_peer_bin, "hostile-server", ep, "--attack", attack],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"ready {ep}"
        victim = subprocess.run(
            [sys.executable, "-c", VICTIM, ep, attack],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert victim.returncode == 0, victim.stderr
        assert victim.stdout.splitlines() == expected + ["alive still here"], victim.stderr
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
