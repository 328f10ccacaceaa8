"""Parent and child: Channel.pair, libipc.spawn / ChildEnd and Channel.from_env, with real
processes: Python parent and Python child, Python parent and Rust child (the Rust test peer,
tests/src/bin/peer.rs), Rust parent (Channel::spawn) and Python child; a child that exits
or never opens its end; from_env's errors."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys

import pytest

import libipc
from libipc import aio
from conftest import HELPER


def helper_args(*args: str) -> list[str]:
    return [sys.executable, "-u", str(HELPER), *args]


def env_without_channel() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LIBIPC_CHANNEL_FD"}


def echo_check(ch: libipc.Channel, n: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(n):
        data = rng.randbytes(rng.choice([0, 1, 100, 4096, 65536, 1 << 20]) if i % 10 == 0 else rng.randrange(2000))
        ch.send(data)
        assert ch.recv(timeout=60) == data


def test_pair() -> None:
    a, b = libipc.Channel.pair()
    with a, b:
        a.send(b"ping")
        assert b.recv(timeout=30) == b"ping"
        b.send(b"")
        assert a.recv(timeout=30) == b""
        assert a.peer.pid == b.peer.pid == os.getpid()
        assert a.peer.uid == os.getuid()
        a.close()
        with pytest.raises(libipc.ClosedError):
            b.recv(timeout=30)


def test_pair_options() -> None:
    a, b = libipc.Channel.pair(max_message_size=1000)
    with a, b:
        assert a.max_message_size == b.max_message_size == 1000
        with pytest.raises(libipc.MessageTooLargeError):
            a.send(bytes(1001))
    with pytest.raises(libipc.InvalidArgumentError):
        libipc.Channel.pair(handshake_timeout=-1.0)


def test_python_parent_python_child() -> None:
    ch, proc = libipc.spawn(helper_args("child-echo", "twice"), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    with ch:
        assert proc.stdout.readline().decode().split() == ["ready", f"pid={os.getpid()}", "inheritable=False"]
        assert proc.stdout.readline().decode().split() == ["second", "InvalidEndpointError"]
        assert ch.peer.pid == proc.pid
        echo_check(ch, 300, 1)
    assert proc.wait() == 0
    proc.stdout.close()


def test_python_parent_rust_child(test_peer_bin: str) -> None:
    ch, proc = libipc.spawn([test_peer_bin, "child-echo", "--check-fd"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    with ch:
        line = proc.stdout.readline().decode().split()
        assert line == ["connected", f"pid={os.getpid()}", f"uid={os.getuid()}", f"max={16 << 20}"]
        assert ch.peer.pid == proc.pid
        # The Rust child's descriptor is close-on-exec, and its own child does not hold it.
        assert ch.recv(timeout=60) == b"cloexec=yes grandchild=not-inherited"
        echo_check(ch, 300, 2)
    assert proc.stdout.readline().decode().split() == ["end", "Closed"]
    assert proc.wait() == 0
    proc.stdout.close()


def test_rust_parent_python_child(test_peer_bin: str) -> None:
    # The Rust peer spawns helper.py with Channel::spawn and checks 2,000 checksummed echoes.
    parent = subprocess.Popen([test_peer_bin, "spawn-echo", "2000", *helper_args("child-echo")],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = parent.communicate(timeout=300)
    lines = out.decode().splitlines()
    assert parent.returncode == 0, (lines, err.decode())
    # The Rust parent saw the Python child, and the child saw the Rust parent.
    spawned = next(line for line in lines if line.startswith("spawned")).split()
    assert spawned[2] == spawned[1].replace("pid=", "peer=")
    ready = next(line for line in lines if line.startswith("ready")).split()
    assert ready[1:] == [f"pid={parent.pid}", "inheritable=False"]
    assert lines[-1] == "done exit status: 0"


def test_child_that_exits_without_opening() -> None:
    with pytest.raises(libipc.PeerDisconnectedError) as info:
        libipc.spawn([sys.executable, "-c", "pass"], handshake_timeout=600)
    assert any("exited with 0" in n for n in getattr(info.value, "__notes__", []))


def test_child_that_never_opens_times_out_and_is_killed() -> None:
    with pytest.raises(libipc.TimeoutError) as info:
        libipc.spawn([sys.executable, "-c", "import time; time.sleep(600)"], handshake_timeout=0.3)
    assert any("killed" in n for n in getattr(info.value, "__notes__", []))


def test_spawn_of_a_missing_program() -> None:
    with pytest.raises(FileNotFoundError):
        libipc.spawn(["/nonexistent/libipc-no-such-program"])


def test_child_end_by_hand() -> None:
    end = libipc.ChildEnd()
    assert end.env_name == "LIBIPC_CHANNEL_FD"
    assert end.env_value == str(end.fd) and end.fd >= 3
    assert not os.get_inheritable(end.fd)
    proc = subprocess.Popen(helper_args("child-echo"), pass_fds=[end.fd], stdout=subprocess.DEVNULL,
                            env={**env_without_channel(), end.env_name: end.env_value})
    with end.finish(proc.pid) as ch:
        ch.send(b"by hand")
        assert ch.recv(timeout=60) == b"by hand"
    assert proc.wait() == 0
    with pytest.raises(libipc.ClosedError):
        end.finish(proc.pid)
    end.close()
    end.close()


@pytest.mark.parametrize("value,error", [
    (None, "NotFoundError"),
    ("abc", "InvalidEndpointError"),
    ("-1", "InvalidEndpointError"),
    ("999999", "InvalidEndpointError"),
])
def test_from_env_errors(value: str | None, error: str) -> None:
    env = env_without_channel()
    if value is not None:
        env["LIBIPC_CHANNEL_FD"] = value
    out = subprocess.run(helper_args("from-env"), env=env, stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split()[:2] == ["error", error]


def test_asyncio_pair_and_spawn() -> None:
    async def run() -> None:
        a, b = aio.pair()
        async with a, b:
            await a.send(b"async")
            assert await b.recv() == b"async"
        ch, proc = await aio.spawn(helper_args("child-echo"), stdout=subprocess.DEVNULL)
        async with ch:
            assert ch.peer.pid == proc.pid
            await ch.send(b"to the child")
            assert await ch.recv() == b"to the child"
        assert proc.wait() == 0

    asyncio.run(run())
