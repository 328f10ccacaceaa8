"""The resource-limit keywords (docs/security.md, "Resource limits") are accepted and take
effect: ``max_connections`` refuses the client beyond it, ``expected_server_uid`` refuses a
listener of another uid (and is ``InvalidArgumentError`` over TCP), ``frame_timeout`` takes
seconds (0: no limit)."""

from __future__ import annotations

import os

import pytest

import libipc
from conftest import listen_endpoint


def test_max_connections_refuses_the_client_beyond_it() -> None:
    with libipc.listen(listen_endpoint("unix"), max_connections=1, frame_timeout=0) as listener:
        with libipc.connect(listener.endpoint, timeout=30) as first:
            with pytest.raises(libipc.TimeoutError) as info:
                libipc.connect(listener.endpoint, timeout=30)
            assert "connection limit (1)" in str(info.value)
            with listener.accept(timeout=30) as server:
                first.send(b"x")
                assert bytes(server.recv(timeout=30)) == b"x"
        # Both ends of the first connection are gone: the place is free again.
        with libipc.connect(listener.endpoint, timeout=30, frame_timeout=2.5):
            pass
    with pytest.raises(libipc.InvalidArgumentError):
        libipc.listen(listen_endpoint("unix"), max_connections=0)


def test_expected_server_uid() -> None:
    with libipc.listen(listen_endpoint("unix")) as listener:
        with libipc.connect(listener.endpoint, timeout=30, expected_server_uid=os.getuid()):
            pass
        with pytest.raises(libipc.PermissionDeniedError) as info:
            libipc.connect(listener.endpoint, timeout=30, expected_server_uid=os.getuid() + 4242)
        assert f"uid {os.getuid()}" in str(info.value)
    with libipc.listen("tcp://127.0.0.1:0") as listener:
        with pytest.raises(libipc.InvalidArgumentError):
            libipc.connect(listener.endpoint, expected_server_uid=os.getuid())
