"""Waiting in tests: on a condition, never for a fixed time.

`eventually` polls from async tests (a real charger, a server in another process);
`wait_until` polls from plain code (a subprocess coming up). Both return the check's
last result, so the caller's assertion says what was expected.
"""

import asyncio
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def wait_until[T](
    check: Callable[[], T],
    *,
    timeout: float,
    process: subprocess.Popen[Any] | None = None,
) -> T:
    """Poll `check` until it returns something truthy, `timeout` passes or `process` exits."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        if process is not None and process.poll() is not None:
            return check()  # what it left behind, e.g. its last log lines
        time.sleep(0.1)


def wait_for_port(
    port: int, process: subprocess.Popen[Any], log: Path, timeout: float = 30
) -> None:
    """Return once `process` listens on `port`; raise with its log if it exits or never does."""
    if not wait_until(lambda: port_is_open(port), timeout=timeout, process=process):
        state = "exited" if process.poll() is not None else f"did not listen within {timeout} s"
        raise RuntimeError(f"{process.args!r} {state}:\n{log.read_text()}")


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll a (sync, ORM-using) check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await sync_to_async(check)()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)
