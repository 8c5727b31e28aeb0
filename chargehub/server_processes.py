"""Several `serve` processes on one port: `manage.py serve --workers N`.

Each worker gets a listening socket of its own, all bound to the same address with
SO_REUSEPORT, so the kernel spreads new connections across them by address hash (a
single shared socket lets whichever process wakes first take most of a storm). The
workers are plain `manage.py serve --fd K` processes. This supervisor keeps the sockets
open, so a worker that dies is started again on the same socket without losing the port.

The workers share no memory: a command reaches a charger held by any of them through the
channel layer (Redis in production; the embedded SQLite layer works too, slower).
"""

import logging
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# How often the supervisor looks at its workers; also the least time between two starts
# of a worker that keeps dying.
WATCH_INTERVAL = 1.0
# How long a worker has to finish after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0
# Connections the kernel queues for a process before it accepts them (capped by
# net.core.somaxconn, 4096 on current kernels): room for a reconnection storm of
# thousands of chargers instead of dropped SYNs and TCP's retry delays.
LISTEN_BACKLOG = 4096


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening IPv4 socket on (host, port) that other such sockets may share."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(LISTEN_BACKLOG)
    listener.set_inheritable(True)
    return listener


class Workers:
    """N `serve --fd` processes on one port, started again when one dies."""

    def __init__(self, host: str, port: int, count: int, extra_arguments: list[str]) -> None:
        self.sockets = [reuse_port_socket(host, port) for _ in range(count)]
        self.extra_arguments = extra_arguments
        self.processes: list[subprocess.Popen[bytes]] = []
        # A plain flag: the signal handler only sets it (see run_stack).
        self.stopping = False

    def _start(self, listener: socket.socket) -> subprocess.Popen[bytes]:
        fd = listener.fileno()
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "serve", "--fd", str(fd)]
        return subprocess.Popen([*command, *self.extra_arguments], pass_fds=(fd,))

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def run(self) -> None:
        """Start the workers and watch them until SIGINT or SIGTERM, then stop them."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.processes = [self._start(listener) for listener in self.sockets]
            while not self.stopping:
                time.sleep(WATCH_INTERVAL)
                for index, process in enumerate(self.processes):
                    if process.poll() is not None and not self.stopping:
                        logger.warning(
                            "serve worker %s exited with %s; starting it again",
                            process.pid,
                            process.returncode,
                        )
                        self.processes[index] = self._start(self.sockets[index])
        finally:
            self._stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for listener in self.sockets:
            listener.close()
