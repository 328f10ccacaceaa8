"""Across processes: Python <-> Python (tests/helper.py in a subprocess: the interop contract's
server and client, tests/interop/README.md, and helper.py's own modes) and Python <-> Rust (the
`ipc` CLI), over unix, tcp, shm and fifo; 100,000 messages of random sizes with checksums; a
killed peer raises, never hangs."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import pytest

import libipc
from conftest import TRANSPORTS, Helper, Proc, listen_endpoint
from helper import check_stream, stream_messages

# ---------------------------------------------------------------------------------------------
# Python <-> Python. The other process speaks the interop contract (tests/interop/README.md),
# as every language's peer does: `helper.py server --endpoint E` prints "READY <endpoint>",
# echoes every client ("interop:close" closes that channel, "interop:kill" SIGKILLs it) and
# exits 0 when its stdin closes; `helper.py client --endpoint E --case A,B,...` runs the cases,
# a new channel each, prints "PASS <case>" for each and exits 0. helper.py's own modes
# (peer-info, stream-send, ...) check what the contract does not.

INTEROP_CLOSE = b"interop:close"
INTEROP_KILL = b"interop:kill"

# The cases a contract client runs against a listener of this process: all of the contract's
# but server-killed, whose interop:kill would end the test process (the Python server's side
# of it is the interop matrix's, tests/interop/run.py).
CLIENT_CASES = ["empty", "one-byte", "all-bytes", "non-utf8", "64k", "1m", "max-size", "over-max",
                "random-10k", "server-close"]
# This side's limit in those runs, as the matrix's servers have: max-size sends 2 MiB.
LISTENER_MAX = 2 << 20


def server(helper, transport: str) -> tuple[Helper, str]:  # type: ignore[no-untyped-def]
    """helper.py's contract server at a fresh endpoint of transport, and its endpoint."""
    h: Helper = helper("server", "--endpoint", listen_endpoint(transport))
    return h, h.contract_ready()


def client(helper, endpoint: str, *cases: str) -> Helper:  # type: ignore[no-untyped-def]
    """helper.py's contract client, running cases against endpoint."""
    h: Helper = helper("client", "--endpoint", endpoint, "--case", ",".join(cases))
    return h


def echo_until_interop_close(ch: libipc.Channel) -> bool:
    """Serve a contract client's connection as the contract's server does: echo every message.
    True when "interop:close" came (not echoed; the channel stays open), False when the client
    closed."""
    while True:
        try:
            m = ch.recv(timeout=60)
        except libipc.ClosedError:
            return False
        if m == INTEROP_CLOSE:
            return True
        ch.send(m)


def test_python_echo_server_in_another_process(transport: str, helper) -> None:  # type: ignore[no-untyped-def]
    h, ep = server(helper, transport)
    with libipc.connect(ep, timeout=30) as ch:
        if transport in ("tcp", "fifo"):  # FIFOs tell the uid and gid, not the pid
            assert ch.peer.pid is None
        else:
            assert ch.peer.pid == h.pid
        rng = random.Random(1)
        for size in [0, 1, 100, 4096, 65536, 1 << 20, 3 << 20]:
            data = rng.randbytes(size)
            ch.send(data)
            assert ch.recv(timeout=60) == data
    # a second client of the same server
    with libipc.connect(ep, timeout=30) as ch:
        ch.send(b"again")
        assert ch.recv(timeout=60) == b"again"
    h.stop()


def test_python_echo_client_in_another_process(transport: str, helper) -> None:  # type: ignore[no-untyped-def]
    # Sending from one thread while another receives is test_100k_messages_both_ways_via_echo's.
    with libipc.listen(listen_endpoint(transport), max_message_size=LISTENER_MAX) as listener:
        h = client(helper, listener.endpoint, *CLIENT_CASES)
        for case in CLIENT_CASES:  # the client runs them one after another, a channel each
            with listener.accept(timeout=60) as ch:
                if transport in ("tcp", "fifo"):
                    assert ch.peer.pid is None, case
                else:
                    assert ch.peer.pid == h.pid, case
                # server-close: interop:close comes, and leaving `with` closes the channel
                assert echo_until_interop_close(ch) == (case == "server-close"), case
        code, out, err = h.finish()
        assert code == 0, out + err
        assert out.splitlines() == [f"PASS {c}" for c in CLIENT_CASES], out + err


@pytest.mark.parametrize("kind", ["unix", "shm", "bare", "abstract", "tcp", "fifo"])
def test_peer_credentials_across_processes(kind: str, helper) -> None:  # type: ignore[no-untyped-def]
    with libipc.listen(listen_endpoint(kind)) as listener:
        h: Helper = helper("peer-info", listener.endpoint)
        with listener.accept(timeout=60) as ch:
            pid, peer_pid, peer_uid, peer_gid = ch.recv(timeout=60).decode().split()
            assert int(pid) == h.pid
            if kind == "tcp":
                assert (ch.peer.pid, ch.peer.uid, ch.peer.gid) == (None, None, None)
                assert (peer_pid, peer_uid, peer_gid) == ("None", "None", "None")
            elif kind == "fifo":  # the uid and gid of the FIFOs the peer made, no pid
                assert ch.peer.pid is None
                assert ch.peer.uid == os.getuid() and ch.peer.gid == os.getgid()
                assert peer_pid == "None"
                assert int(peer_uid) == os.getuid()
            else:
                assert ch.peer.pid == h.pid
                assert ch.peer.uid == os.getuid() and ch.peer.gid == os.getgid()
                assert int(peer_pid) == os.getpid()
                assert int(peer_uid) == os.getuid()
        assert h.finish()[0] == 0


N_STREAM = 100_000


@pytest.mark.timeout(300)
def test_100k_random_messages_with_checksums(transport: str, helper) -> None:  # type: ignore[no-untyped-def]
    # helper.py's own stream-send: 100,000 messages of up to 64 KiB one way, which no case of
    # the contract does (random-10k echoes 10,000 of up to 1 KiB, 8 in flight).
    seed = 20240 + TRANSPORTS.index(transport)
    with libipc.listen(listen_endpoint(transport)) as listener:
        h: Helper = helper("stream-send", listener.endpoint, str(N_STREAM), str(seed))
        with listener.accept(timeout=60) as ch:
            h.ready()
            total = check_stream(iter(lambda: ch.recv(timeout=60), None), N_STREAM, seed)
            assert ch.try_recv() is None
            ch.send(b"checked %d bytes" % total)
            code, out, err = h.finish()
            assert code == 0, err
            assert out.splitlines()[-1] == f"checked {total} bytes"


@pytest.mark.timeout(300)
def test_100k_messages_both_ways_via_echo(transport: str, helper) -> None:  # type: ignore[no-untyped-def]
    """This side sends the stream, a Python contract server sends it back; a second thread
    checks every echoed message while the first keeps sending."""
    n = 20_000
    seed = 777
    h, ep = server(helper, transport)
    with libipc.connect(ep, timeout=30) as ch:
        result: list[int] = []

        def check() -> None:
            result.append(check_stream(iter(lambda: ch.recv(timeout=60), None), n, seed))

        t = threading.Thread(target=check)
        t.start()
        for m in stream_messages(n, seed):
            ch.send(m)
        t.join()
        assert result and result[0] > 0
    h.stop()


# ---------------------------------------------------------------------------------------------
# A killed peer raises, never hangs. The killed client is a contract client in its
# server-close case: it sent its three messages, read their echoes and sent "interop:close",
# and waits for a close that never comes (killed meanwhile); the killed server is a contract
# server that got "interop:kill".


def client_waiting_for_close(listener: libipc.Listener, helper) -> tuple[libipc.Channel, Helper]:  # type: ignore[no-untyped-def]
    """A contract client of listener, accepted and served up to its interop:close."""
    h = client(helper, listener.endpoint, "server-close")
    ch = listener.accept(timeout=60)
    assert echo_until_interop_close(ch)
    return ch, h


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_killed_peer_recv_raises(kind: str, helper) -> None:  # type: ignore[no-untyped-def]
    with libipc.listen(listen_endpoint(kind)) as listener:
        ch, h = client_waiting_for_close(listener, helper)
        with ch:
            h.kill()
            with pytest.raises(ConnectionError) as info:
                ch.recv()  # no timeout: the watchdog catches a hang
            assert isinstance(info.value, libipc.PeerDisconnectedError), repr(info.value)
            assert isinstance(info.value, BrokenPipeError)


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_peer_killed_while_recv_blocks(kind: str, helper) -> None:  # type: ignore[no-untyped-def]
    with libipc.listen(listen_endpoint(kind)) as listener:
        ch, h = client_waiting_for_close(listener, helper)
        with ch:
            killer = threading.Timer(0.3, h.kill)
            killer.start()
            with pytest.raises(libipc.PeerDisconnectedError):
                ch.recv()
            killer.join()


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_killed_peer_ends_iteration_with_an_error(kind: str, helper) -> None:  # type: ignore[no-untyped-def]
    """Iteration ends silently only on an orderly close; a killed peer is an error."""
    with libipc.listen(listen_endpoint(kind)) as listener:
        ch, h = client_waiting_for_close(listener, helper)
        with ch:
            threading.Timer(0.2, h.kill).start()
            with pytest.raises(libipc.PeerDisconnectedError):
                for _ in ch:
                    pass


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_killed_peer_send_raises(kind: str, helper) -> None:  # type: ignore[no-untyped-def]
    with libipc.listen(listen_endpoint(kind)) as listener:
        ch, h = client_waiting_for_close(listener, helper)
        with ch:
            h.kill()
            with pytest.raises(BrokenPipeError):
                for _ in range(1_000_000):  # nobody reads: it must fail, not block
                    ch.send(bytes(1024))


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_killed_server_client_raises(kind: str, helper) -> None:  # type: ignore[no-untyped-def]
    h, ep = server(helper, kind)
    with libipc.connect(ep, timeout=30) as ch:
        ch.send(b"x")
        assert ch.recv(timeout=60) == b"x"  # the server serves this channel
        ch.send(INTEROP_KILL)
        with pytest.raises(libipc.PeerDisconnectedError):
            ch.recv()
        assert h.proc.wait() == -signal.SIGKILL
        with pytest.raises((ConnectionError, EOFError)):
            ch.send(b"x")


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_killed_peer_async_recv_raises(kind: str, helper) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from libipc import aio

    async def main() -> None:
        listener = await aio.listen(listen_endpoint(kind))
        async with listener:
            h = client(helper, listener.endpoint, "server-close")
            async with await listener.accept() as ch:
                while (m := await ch.recv()) != INTEROP_CLOSE:  # serve it up to interop:close
                    await ch.send(m)
                killer = asyncio.get_running_loop().call_later(0.2, h.kill)
                with pytest.raises(libipc.PeerDisconnectedError):
                    await ch.recv()
                killer.cancel()

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------
# Python <-> Rust (the ipc CLI)


def start_ipc_listen(background: Callable[[list[str]], Proc], ipc_bin: str, kind: str,
                     *flags: str) -> tuple[Proc, str]:
    """`ipc listen [flags] EP`; waits for "listening on <ep>" on its stderr."""
    p = background([ipc_bin, "listen", *flags, listen_endpoint(kind)])
    while True:  # the watchdog bounds this
        lines = p.err_lines()
        if lines:
            m = re.match(r"listening on (\S+)", lines[0])
            assert m, lines
            return p, m.group(1)
        assert p.proc.poll() is None, f"ipc listen exited: {p.err_path.read_text()}"
        time.sleep(0.02)


def test_python_client_rust_echo_server(transport: str, ipc_bin: str, background) -> None:  # type: ignore[no-untyped-def]
    p, ep = start_ipc_listen(background, ipc_bin, transport, "--echo")
    with libipc.connect(ep, timeout=30) as ch:
        if transport in ("tcp", "fifo"):  # FIFOs tell the uid and gid, not the pid
            assert ch.peer.pid is None
        else:
            assert ch.peer.pid == p.proc.pid
        rng = random.Random(3)
        for size in [0, 1, 7, 64, 4096, 65536, 1 << 20, 5 << 20]:
            data = rng.randbytes(size)
            ch.send(data)
            assert ch.recv(timeout=60) == data
        # a stream with checksums, in flight together
        n, seed = 5000, 99
        t = threading.Thread(target=lambda: [ch.send(m) for m in stream_messages(n, seed)])
        t.start()
        assert check_stream(iter(lambda: ch.recv(timeout=60), None), n, seed) > 0
        t.join()
        # zero copy on this side against Rust
        with ch.reserve(6) as buf, memoryview(buf) as mv:
            mv[:] = b"in-place"[:6]
        with ch.recv_view(timeout=60) as view:
            assert bytes(view) == b"in-pla"


def test_python_client_rust_printing_listener(transport: str, ipc_bin: str, background) -> None:  # type: ignore[no-untyped-def]
    p, ep = start_ipc_listen(background, ipc_bin, transport)
    with libipc.connect(ep, timeout=30) as ch:
        ch.send(b"hello from python")
        ch.send(b"\x00\xff")
        ch.send("grüße".encode())
    want = ["hello from python", "hex: 00ff", "grüße"]
    while p.out().splitlines() != want:  # the watchdog bounds this
        assert len(p.out().splitlines()) <= len(want), p.out()
        time.sleep(0.02)


def test_rust_ipc_send_to_python_listener(transport: str, ipc_bin: str) -> None:
    with libipc.listen(listen_endpoint(transport)) as listener:
        proc = subprocess.Popen([ipc_bin, "send", listener.endpoint, "one", "two words", ""],
                                stderr=subprocess.PIPE)
        try:
            with listener.accept(timeout=60) as ch:
                if transport in ("tcp", "fifo"):  # FIFOs tell the uid and gid, not the pid
                    assert ch.peer.pid is None
                else:
                    assert ch.peer.pid == proc.pid
                # iteration ends silently when `ipc send` closes in order
                assert list(ch) == [b"one", b"two words", b""]
            _, err = proc.communicate()
            assert proc.returncode == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def test_rust_ipc_send_file_to_python_listener(transport: str, ipc_bin: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = random.Random(8).randbytes(2 << 20)
    f = tmp_path / "msg.bin"
    f.write_bytes(data)
    with libipc.listen(listen_endpoint(transport)) as listener:
        proc = subprocess.Popen([ipc_bin, "send", "--file", str(f), listener.endpoint])
        try:
            with listener.accept(timeout=60) as ch:
                with ch.recv_view(timeout=60) as view, memoryview(view) as mv:
                    assert mv == data
                with pytest.raises(EOFError):
                    ch.recv(timeout=60)
            assert proc.wait() == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def test_rust_ping_against_python_echo(transport: str, ipc_bin: str, helper) -> None:  # type: ignore[no-untyped-def]
    h, ep = server(helper, transport)
    args = [ipc_bin, "ping", "--count", "200", "--size", "4096", ep]
    res = subprocess.run(args, capture_output=True, text=True, timeout=None)
    assert res.returncode == 0, res.stderr
    h.stop()


def test_killed_rust_peer_raises(transport: str, ipc_bin: str, background) -> None:  # type: ignore[no-untyped-def]
    p, ep = start_ipc_listen(background, ipc_bin, transport, "--echo")
    with libipc.connect(ep, timeout=30) as ch:
        ch.send(b"x")
        assert ch.recv(timeout=60) == b"x"
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait()
        with pytest.raises(ConnectionError):
            ch.recv()
