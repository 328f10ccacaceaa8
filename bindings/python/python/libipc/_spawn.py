"""`libipc.spawn`: start a child process holding the other end of a new channel.

The core makes the pair and runs the handshake (`ChildEnd`); the only Python here is the
`subprocess.Popen` call that starts the child with its end inherited.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

from ._libipc import Channel, ChildEnd

__all__ = ["spawn"]


def spawn(
    args: str | bytes | os.PathLike[str] | os.PathLike[bytes] | Sequence[Any],
    *,
    max_message_size: int | None = None,
    handshake_timeout: float | None = None,
    stream_spin: float | None = None,
    **popen_kwargs: Any,
) -> tuple[Channel, subprocess.Popen[Any]]:
    """Start ``args`` as a child process (``subprocess.Popen(args, **popen_kwargs)``) holding
    the other end of a new channel, and wait (at most ``handshake_timeout``) for it to open
    the channel with ``Channel.from_env()`` (or ``Channel::from_env`` in Rust,
    ``ipc_channel_from_env`` in C). Returns the channel and the ``Popen``; waiting for the
    child stays yours.

    The child's environment (``env=``, default ``os.environ``) gets ``LIBIPC_CHANNEL_FD``, and
    its end is added to ``pass_fds``. If the child exits or closes its end without opening
    the channel (``PeerDisconnectedError``) or does not open it in time (``TimeoutError``), it
    is killed if still running, and reaped, and the error is raised (with a note saying how
    the child ended).
    """
    end = ChildEnd(
        max_message_size=max_message_size,
        handshake_timeout=handshake_timeout,
        stream_spin=stream_spin,
    )
    try:
        env = popen_kwargs.pop("env", None)
        env = dict(os.environ if env is None else env)
        env[end.env_name] = end.env_value
        pass_fds = (*popen_kwargs.pop("pass_fds", ()), end.fd)
        proc: subprocess.Popen[Any] = subprocess.Popen(
            args, env=env, pass_fds=pass_fds, **popen_kwargs
        )
    except BaseException:
        end.close()
        raise
    try:
        return end.finish(proc.pid), proc
    except BaseException as e:
        running = proc.poll() is None
        if running:
            # A child already exiting (it closed its end on the way) ignores the signal and
            # keeps its own exit status, which wait() then reports.
            proc.kill()
        code = proc.wait()
        killed = running and code == -signal.SIGKILL
        e.add_note(
            f"the child (pid {proc.pid}) "
            + ("was still running and was killed" if killed else f"exited with {code}")
        )
        raise
