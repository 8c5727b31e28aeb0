"""`manage.py serve --workers 2`: two processes on one port (chargehub/server_processes.py).

Chargers connect to the one port and land on both processes; a command sent from this
process (as from a Celery worker or a web request) reaches each, through the channel
layer (Redis when REDIS_URL is set, as in production). A worker killed with -9 is
started again, and its charger reconnects and gets commands.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call, call_result

from stations.ocpp import commands
from tests.conftest import ROOT, server_env
from tests.waiting import free_port, wait_for_port, wait_until

# A safety net against a hanging test (two Django processes start on a shared machine).
START_TIMEOUT = 120


def worker_pids(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children]


def runs_uvloop(pid: int) -> bool:
    """Whether the process has uvloop loaded: uvicorn's workers do, daphne's do not."""
    return "uvloop" in Path(f"/proc/{pid}/maps").read_text()


def is_running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def holder(pids: list[int], server_port: int, client_port: int) -> int | None:
    """The process that holds the server end of the TCP connection from `client_port`.

    Both ports: on a busy machine another test's connection may have `client_port` as
    its remote port too."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
        if (local, remote) == (server_port, client_port):
            inode = fields[9]
    return next((pid for pid in pids if inode in socket_inodes(pid)), None)


@pytest.fixture
def two_workers(
    db_access: None, tmp_path: Path, server_kind: str
) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`serve --workers 2` on a free port, with each server in turn: its URL, the
    supervisor's process, its log."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    command = ["manage.py", "serve", "--workers", "2", "--port", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, *command, "--server", server_kind],
            cwd=ROOT,
            # The servers' "Listening on" line tells that a worker takes connections.
            env=server_env(LIBRARY_LOG_LEVEL="INFO"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # The port answers once the supervisor has bound it; the workers take longer.
        wait_for_port(port, process, log_path, timeout=START_TIMEOUT)
        assert wait_until(
            lambda: log_path.read_text().count("Listening on") == 2,
            timeout=START_TIMEOUT,
            process=process,
        ), log_path.read_text()
        yield f"ws://127.0.0.1:{port}", process, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_chargers_on_both_workers_get_commands_sent_from_another_process(
    charger: Callable[..., Any], two_workers: tuple[str, subprocess.Popen, Path]
):
    url, supervisor, log_path = two_workers
    workers = worker_pids(supervisor.pid)
    held: dict[int, str] = {}
    async with AsyncExitStack() as stack:
        # The kernel spreads connections by address hash: a few chargers reach both.
        for n in range(40):
            cp_id = f"WORKERS-{n}"
            cp = await stack.enter_async_context(charger(cp_id, server=url))
            await cp.boot()
            pid = holder(workers, cp._connection.remote_address[1], cp._connection.local_address[1])
            assert pid in workers
            held.setdefault(pid, cp_id)
            if len(held) == 2:
                break
        assert len(held) == 2, "every charger landed on one worker"
        server = supervisor.args[-1]  # two_workers's --server
        assert [runs_uvloop(pid) for pid in workers] == [server == "uvicorn"] * 2

        for cp_id in held.values():
            answer = await commands.send(cp_id, call.Reset(type="Soft"), timeout=10)
            assert answer == call_result.Reset(status="Accepted")

        # A worker killed with -9 (a crash) is started again on its socket; its charger
        # reconnects through the port, the other worker's keeps its socket, and both get
        # commands.
        (killed, moved), (_, stayed) = held.items()
        os.kill(killed, signal.SIGKILL)
        assert wait_until(
            lambda: killed not in (pids := worker_pids(supervisor.pid)) and len(pids) == 2,
            timeout=START_TIMEOUT,
        )
        assert wait_until(
            lambda: log_path.read_text().count("Listening on") == 3,
            timeout=START_TIMEOUT,
            process=supervisor,
        ), log_path.read_text()
        back = await stack.enter_async_context(charger(moved, server=url))
        await back.boot()
        for cp_id in (moved, stayed):
            answer = await commands.send(cp_id, call.ClearCache(), timeout=10)
            assert answer == call_result.ClearCache(status="Accepted")

    # Stopping the supervisor stops its workers.
    workers = worker_pids(supervisor.pid)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(40) == 0
    assert not any(is_running(pid) for pid in workers)
