"""Redis processes of a test's own: a server, a replica, a sentinel; and a Redis that hangs.

Without persistence: a server started again is empty, as after a crash. Tests that need
them skip where redis-server is not installed.
"""

import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from redis import Redis

from tests.waiting import free_port, port_is_open, wait_until

needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


class RedisServer:
    """A redis-server on a free port; `arguments` are added to its command line."""

    def __init__(self, *arguments: str, password: str = "") -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.password = password
        self.arguments = (*arguments, "--requirepass", password) if password else arguments
        self.process: subprocess.Popen[bytes] | None = None
        # Its working directory: a replica's full sync writes an RDB file there.
        self.folder = tempfile.TemporaryDirectory(prefix="redis-")

    def command(self) -> list[str]:
        return [
            *("redis-server", "--port", str(self.port), "--dir", self.folder.name),
            *("--save", "", "--appendonly", "no"),
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*self.command(), *self.arguments], stdout=subprocess.DEVNULL
        )
        assert wait_until(lambda: port_is_open(self.port), timeout=10, process=self.process)

    def client(self, db: int = 0) -> Redis:
        return Redis(port=self.port, db=db, password=self.password or None, socket_timeout=5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def remove(self) -> None:
        """Stop it and remove its working directory."""
        self.stop()
        self.folder.cleanup()

    def kill(self) -> None:
        """A crash: SIGKILL, nothing said to its clients or replicas."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


class RedisSentinel(RedisServer):
    """A sentinel watching `master` as `name`; alone, it is a quorum of one.

    It calls the master down after one silent second, to keep the test short. With
    `password` clients must give it; the master's password is its monitored master's.
    """

    def __init__(self, folder: Path, master: RedisServer, name: str, password: str = "") -> None:
        super().__init__(password=password)
        self.name = name
        # A sentinel rewrites its configuration file as it learns; it must be its own.
        self.config = folder / f"sentinel-{self.port}.conf"
        self.config.write_text(
            f"port {self.port}\n"
            f"sentinel monitor {name} 127.0.0.1 {master.port} 1\n"
            f"sentinel down-after-milliseconds {name} 1000\n"
            f"sentinel failover-timeout {name} 10000\n"
            + (f"sentinel auth-pass {name} {master.password}\n" if master.password else "")
        )

    def command(self) -> list[str]:
        return ["redis-server", str(self.config), "--sentinel"]

    def master_port(self) -> int:
        return int(self.client().sentinel_get_master_addr_by_name(self.name)[1])

    def knows_replicas(self) -> bool:
        return bool(self.client().sentinel_slaves(self.name))


class HungRedis:
    """A Redis that hangs: its port accepts connections (the kernel's backlog) and never
    answers a command. Closing it resets the connections it held."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"redis://127.0.0.1:{self.socket.getsockname()[1]}/0"

    def __enter__(self) -> "HungRedis":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.socket.close()
