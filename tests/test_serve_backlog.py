"""A connection storm waits in the kernel's queue, not in TCP's retry delays.

Twisted listens with a backlog of 50: in a storm of thousands of chargers the kernel drops
the SYNs beyond it, and each dropped charger waits 1, 3, 7 s for TCP to try again before
its handshake has started. `serve` and `serve --workers` listen with LISTEN_BACKLOG (the
kernel caps it at net.core.somaxconn). `ss` shows a listening socket's backlog as Send-Q.
"""

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from chargehub.server_processes import LISTEN_BACKLOG, reuse_port_socket
from tests.waiting import free_port

pytestmark = pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")


def expected_backlog() -> int:
    return min(LISTEN_BACKLOG, int(Path("/proc/sys/net/core/somaxconn").read_text()))


def listen_backlog(port: int) -> int:
    """The backlog of the socket listening on 127.0.0.1:port, as the kernel reports it."""
    lines = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(lines) == 1, lines
    return int(lines[0].split()[2])  # State Recv-Q Send-Q ...


def test_serve_queues_thousands_of_connections_before_accepting_them(each_server):
    assert listen_backlog(urlsplit(each_server).port) == expected_backlog()


def test_serve_workers_sockets_queue_thousands_of_connections():
    port = free_port()
    with reuse_port_socket("127.0.0.1", port):
        assert listen_backlog(port) == expected_backlog()
