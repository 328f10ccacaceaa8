"""libipc.Cancel: a blocked call on one thread is ended from another, with nothing lost; and a
signal handler that does not raise lets the interrupted call wait on (PEP 475).

Watchdog: pytest-timeout. No wall-clock bounds: each blocked call is only ever ended by the
cancel (or the message) the test sends."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

import libipc
from conftest import channel_pair, listen_endpoint


def run_blocked(call: Callable[[], object]) -> tuple[threading.Thread, list[BaseException | object]]:
    box: list[BaseException | object] = []

    def target() -> None:
        try:
            box.append(call())
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box.append(e)

    t = threading.Thread(target=target)
    t.start()
    return t, box


def test_cancel_object() -> None:
    c = libipc.Cancel()
    assert not c.cancelled
    c.cancel()
    assert c.cancelled
    c.reset()
    assert not c.cancelled
    os.write(c.fileno(), b"x")  # what a signal handler may do
    assert c.cancelled
    c.reset()
    assert not c.cancelled
    assert "Cancel" in repr(c)
    assert issubclass(libipc.CancelledError, libipc.Error)
    assert issubclass(libipc.CancelledError, InterruptedError)
    assert libipc.CancelledError.code == 104


def test_blocked_recv_cancelled_from_another_thread(transport: str) -> None:
    with channel_pair(transport) as (server, client):
        c = libipc.Cancel()
        t, box = run_blocked(lambda: server.recv(cancel=c))
        time.sleep(0.05)  # let it block (the outcome is the same if it has not yet)
        c.cancel()
        t.join()
        assert isinstance(box[0], libipc.CancelledError), box
        # while cancelled, calls end at once; after reset, nothing was lost
        with pytest.raises(libipc.CancelledError):
            server.recv(cancel=c)
        c.reset()
        client.send(b"after")
        assert server.recv(cancel=c, timeout=30) == b"after"


@pytest.mark.parametrize("call", ["recv_into", "recv_view", "accept", "send"])
def test_other_blocking_calls_are_cancelled(transport: str, call: str) -> None:
    c = libipc.Cancel()
    with libipc.listen(listen_endpoint(transport)) as listener:
        if call == "accept":
            t, box = run_blocked(lambda: listener.accept(cancel=c))
        else:
            client = libipc.connect(listener.endpoint, timeout=30)
            server = listener.accept(timeout=30)
            if call == "recv_into":
                buf = bytearray(16)
                t, box = run_blocked(lambda: server.recv_into(buf, cancel=c))
            elif call == "recv_view":
                t, box = run_blocked(lambda: server.recv_view(cancel=c))
            else:
                # fill the channel until a send would wait, then block in send
                for chunk in (bytes(64 * 1024), b"blocked"):
                    try:
                        while True:
                            client.send(chunk, timeout=0)
                    except libipc.TimeoutError:
                        pass
                t, box = run_blocked(lambda: client.send(b"blocked", cancel=c))
        time.sleep(0.05)
        c.cancel()
        t.join()
        assert isinstance(box[0], libipc.CancelledError), box
        if call != "accept":
            server.close()  # first: the client's close then need not wait for room
            client.close()


def recv_through_a_signal() -> None:
    """A blocking recv on the main thread, during which SIGUSR1 arrives and then a message:
    the recv returns the message."""
    with channel_pair("unix") as (server, client):
        def later() -> None:
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.1)
            client.send(b"late")

        t = threading.Thread(target=later)
        t.start()
        assert server.recv() == b"late"
        t.join()


def test_signal_handler_that_returns_lets_recv_wait_on() -> None:
    """A signal whose handler does not raise: the blocked recv (main thread) goes on waiting
    and returns the message that comes later."""
    seen: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(signum))
    try:
        recv_through_a_signal()
        assert seen == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_wakeup_fd_of_the_caller_is_kept_and_told() -> None:
    """The wake-up descriptor set by the program (asyncio uses one) is put back after a
    blocking call, and is given the signal numbers that arrived during it."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    old_fd = signal.set_wakeup_fd(w)
    old = signal.signal(signal.SIGUSR1, lambda signum, frame: None)
    try:
        recv_through_a_signal()
        assert signal.set_wakeup_fd(w) == w  # ours is back
        os.set_blocking(r, False)
        assert os.read(r, 16) == bytes([signal.SIGUSR1])
    finally:
        signal.set_wakeup_fd(old_fd)
        signal.signal(signal.SIGUSR1, old)
        os.close(r)
        os.close(w)
