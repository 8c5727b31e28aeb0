"""A charger that reconnects to another `serve` process keeps its session and commands.

Behind a load balancer a charger that lost its network comes back through whichever
process the balancer picks, often before the old one has noticed the lost socket. Two
`manage.py serve` processes on their own ports share the database and the channel
layer, as two machines do in production: the old process's late disconnect must not
mark the charger offline, the session it started there closes on the new one, and a
command sent afterwards reaches it there.
"""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from ocpp.v16 import call, call_result

from stations.models import ChargePoint, ChargingSession, ConnectionEvent
from stations.ocpp import commands
from tests.conftest import ROOT, server_env
from tests.stations.ocpp_wire import ago, iso, send
from tests.waiting import eventually, free_port, wait_for_port
from users.models import IdToken

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL") or connection.vendor != "postgresql",
    reason="several serve processes share chargers in production's shape: "
    "PostgreSQL and the Redis channel layer (DATABASE_URL and REDIS_URL)",
)

# Two Django processes start on a machine shared with the rest of the suite.
START_TIMEOUT = 120


class Server:
    """A `manage.py serve` process of the test's own, with its log."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=server_env(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def logged(self, text: str) -> bool:
        return text in self.log.read_text()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def two_servers(db_access: None, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    servers = (Server(tmp_path / "first.log"), Server(tmp_path / "second.log"))
    try:
        for server in servers:
            wait_for_port(server.port, server.process, server.log, timeout=START_TIMEOUT)
        yield servers
    finally:
        for server in servers:
            server.stop()


def connection_state(charge_point_id: str) -> tuple[bool, str, list[str]]:
    """Whether the charger is online, its owning connection, its online history."""
    charge_point = ChargePoint.objects.get(charge_point_id=charge_point_id)
    history = ConnectionEvent.objects.filter(charge_point=charge_point).order_by("at", "pk")
    return (
        charge_point.is_connected,
        charge_point.connection_id,
        list(history.values_list("kind", flat=True)),
    )


@pytest.mark.parametrize(
    "old_socket_open", [True, False], ids=["before-the-old-process-noticed", "after-it-noticed"]
)
async def test_a_charger_reconnecting_to_another_process_keeps_its_session_and_commands(
    charger: Callable[..., Any], two_servers: tuple[Server, Server], old_socket_open: bool
):
    first, second = two_servers
    cp_id = f"MOVES-{'OPEN' if old_socket_open else 'CLOSED'}"
    await sync_to_async(IdToken.objects.create)(uid="MOVING-DRIVER")
    async with charger(cp_id, server=first.url) as old:
        await old.boot()
        started = await send(
            old,
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "MOVING-DRIVER",
                "meterStart": 1000,
                "timestamp": iso(ago(minutes=20)),
            },
        )
        transaction_id = started["transactionId"]
        _, first_owner, _ = await sync_to_async(connection_state)(cp_id)
        if old_socket_open:
            # The charger lost its network; the first process has not noticed yet. The
            # charger comes back through the second (no new boot: it did not restart).
            async with charger(cp_id, server=second.url) as new:
                owner = await taken_over(cp_id, first_owner)
                # The first process closes its stale socket (replaced), and its
                # disconnect runs after the second process took the charger over.
                await old._connection.wait_closed()
                assert old._connection.close_code == 4000
                assert await eventually(lambda: first.logged(f"{cp_id} disconnected"), 30)
                await the_charger_is_served_by_the_second_process(new, cp_id, owner, transaction_id)
            return
    assert await eventually(lambda: first.logged(f"{cp_id} disconnected"), 30)
    async with charger(cp_id, server=second.url) as new:
        owner = await taken_over(cp_id, first_owner)
        await the_charger_is_served_by_the_second_process(new, cp_id, owner, transaction_id)


async def taken_over(cp_id: str, old_owner: str) -> str:
    """The connection that owns the charger once a new one has replaced `old_owner`."""
    owner = await eventually(
        lambda: (state := connection_state(cp_id))[1] != old_owner and state[1], 30
    )
    assert owner
    return owner


async def the_charger_is_served_by_the_second_process(
    cp: Any, cp_id: str, owner: str, transaction_id: int
) -> None:
    connected, still_owner, history = await sync_to_async(connection_state)(cp_id)
    assert connected
    assert still_owner == owner
    assert history[-1] == ConnectionEvent.Kind.CONNECTED

    # A command from another process (a web request, a Celery task) reaches it there.
    answer = await commands.send(cp_id, call.ClearCache(), timeout=10)
    assert answer == call_result.ClearCache(status="Accepted")
    assert ("ClearCache", {}) in cp.received

    # The session started through the first process ends through the second.
    stopped = await send(
        cp,
        "StopTransaction",
        {
            "transactionId": transaction_id,
            "meterStop": 5000,
            "timestamp": iso(ago(minutes=1)),
            "idTag": "MOVING-DRIVER",
        },
    )
    assert stopped["idTagInfo"]["status"] == "Accepted"
    session = await sync_to_async(ChargingSession.objects.get)(pk=transaction_id)
    assert session.status == ChargingSession.Status.COMPLETED
    assert session.energy_wh == 4000
    sessions = await sync_to_async(
        ChargingSession.objects.filter(charge_point__charge_point_id=cp_id).count
    )()
    assert sessions == 1
