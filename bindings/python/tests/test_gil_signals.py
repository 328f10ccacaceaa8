"""Blocking calls release the GIL, and Ctrl-C (SIGINT) interrupts them with KeyboardInterrupt.

No wall-clock bounds: a call that holds the GIL would make the recv below time out (the
other thread could not send), and a SIGINT that is not handled would leave the helper blocked
until pytest-timeout ends the test."""

from __future__ import annotations

import signal
import threading
import time

import pytest

import libipc
from conftest import TRANSPORTS, Helper, channel_pair, listen_endpoint


def test_thread_runs_while_recv_waits(transport: str) -> None:
    with channel_pair(transport) as (server, client):
        counter = 0
        go = threading.Event()

        def worker() -> None:
            nonlocal counter
            go.wait()
            # Pure Python work: needs the GIL, which the main thread (in recv) must have let go.
            while counter < 200_000:
                counter += 1
            client.send(b"counted")

        t = threading.Thread(target=worker)
        t.start()
        go.set()
        # 60 s is far more than the worker needs; if recv held the GIL the worker could not
        # run and this would raise TimeoutError instead.
        assert server.recv(timeout=60) == b"counted"
        assert counter == 200_000
        t.join()


def test_thread_runs_while_recv_into_and_recv_view_wait(transport: str) -> None:
    with channel_pair(transport) as (server, client):
        for call in (lambda: server.recv_into(bytearray(16), timeout=60),
                     lambda: len(server.recv_view(timeout=60))):
            counter = 0

            def worker() -> None:
                nonlocal counter
                while counter < 100_000:
                    counter += 1
                client.send(b"counted")

            t = threading.Thread(target=worker)
            t.start()
            assert call() == 7
            assert counter == 100_000
            t.join()


def test_thread_runs_while_accept_waits(transport: str) -> None:
    with libipc.listen(listen_endpoint(transport)) as listener:
        box: list[libipc.Channel] = []

        def worker() -> None:
            n = 0
            while n < 100_000:
                n += 1
            box.append(libipc.connect(listener.endpoint, timeout=30))

        t = threading.Thread(target=worker)
        t.start()
        with listener.accept(timeout=60):
            t.join()
            box[0].close()


def test_thread_runs_while_send_waits() -> None:
    with channel_pair("unix") as (server, client):
        # fill the socket buffers: the next send blocks until the other thread reads
        chunk = bytes(64 * 1024)
        sent = 0
        try:
            while True:
                client.send(chunk, timeout=0.1)
                sent += 1
        except TimeoutError:
            pass
        got = 0

        def reader() -> None:
            nonlocal got
            while got < sent + 1:
                server.recv(timeout=60)
                got += 1

        t = threading.Thread(target=reader)
        t.start()
        client.send(chunk, timeout=60)  # blocked until the reader (needing the GIL) reads
        t.join()
        assert got == sent + 1


BLOCK_MODES = ["recv-block", "aio-recv-block"]


@pytest.mark.parametrize("mode", BLOCK_MODES)
@pytest.mark.parametrize("kind", TRANSPORTS)
def test_sigint_interrupts_blocking_recv(kind: str, mode: str, helper) -> None:  # type: ignore[no-untyped-def]
    with libipc.listen(listen_endpoint(kind)) as listener:
        h: Helper = helper(mode, listener.endpoint)
        with listener.accept(timeout=60) as ch:
            h.ready()
            # Give it a moment to enter recv (if SIGINT came earlier it would still be a
            # KeyboardInterrupt; the moment only makes the test about the blocked call).
            time.sleep(0.3)
            h.proc.send_signal(signal.SIGINT)
            code, out, err = h.finish()  # the watchdog bounds this wait
            assert "recv returned" not in out
            assert err.rstrip().splitlines()[-1] == "KeyboardInterrupt", err
            assert "Traceback" in err
            assert code != 0
            # the channel is fine on this side: the peer went away
            with pytest.raises((ConnectionError, EOFError)):
                ch.recv(timeout=30)


def test_sigint_in_main_thread_interrupts_recv_here(sigint_raises: None) -> None:
    """In this process: a SIGINT while the main thread waits in recv() (no timeout)."""
    with channel_pair("unix") as (server, _client):
        import os

        # sent to the process from another thread; Python runs the handler in the main thread
        timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            server.recv()
        timer.join()


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_sigint_interrupts_blocking_accept(kind: str, helper) -> None:  # type: ignore[no-untyped-def]
    h: Helper = helper("accept-block", listen_endpoint(kind))
    h.ready()
    time.sleep(0.3)  # into accept() (see above)
    h.proc.send_signal(signal.SIGINT)
    code, out, err = h.finish()  # the watchdog bounds this wait
    assert "accept returned" not in out
    assert err.rstrip().splitlines()[-1] == "KeyboardInterrupt", err
    assert code != 0
