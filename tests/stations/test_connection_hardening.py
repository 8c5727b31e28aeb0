"""Who holds a charger's socket: no charger without credentials (unless staff chose
security profile 0), exactly one live socket per charger in any number of server
processes, and a connection storm answered with connections or clean refusals."""

import asyncio
import os
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from stations import operations
from stations.models import ChargePoint
from stations.ocpp import commands
from tests.conftest import PASSWORD, basic_auth, register
from tests.stations.ocpp_wire import assert_still_up, send
from tests.waiting import eventually, free_port

BOOT = {"chargePointVendor": "ChargeHub", "chargePointModel": "Sim-22"}


def _get(charge_point_id: str) -> ChargePoint:
    return ChargePoint.objects.get(charge_point_id=charge_point_id)


def server_log(tmp_path_factory, url: str) -> str:
    """What a server started by `start_server` has logged (its file is named by its port)."""
    port = url.rsplit(":", 1)[1]
    (path,) = Path(tmp_path_factory.getbasetemp()).glob(f"server-logs[0-9]*/server-{port}.log")
    return path.read_text(errors="replace")


async def handshake_status(url: str, charge_point_id: str, password: str | None) -> int:
    """101 when the server accepts the WebSocket, else the HTTP status it answered."""
    headers = basic_auth(charge_point_id, password) if password else {}
    try:
        async with connect(
            f"{url}/ocpp/{charge_point_id}",
            subprotocols=["ocpp1.6"],
            additional_headers=headers,
            open_timeout=30,
        ):
            return 101
    except InvalidStatus as refusal:
        return refusal.response.status_code


@pytest.fixture(scope="session")
def open_server(start_server):
    """A server that lets unknown chargers in as Pending (OCPP_ALLOW_UNKNOWN_CHARGERS)."""
    return start_server(OCPP_ALLOW_UNKNOWN_CHARGERS="1")


@pytest.fixture(scope="session")
def second_server(served_by):
    """Another server process on the same database and channel layer, and uvicorn: a site
    may run both servers, as while it moves from one to the other."""
    return served_by("uvicorn")


# --- No charger without credentials -------------------------------------------------------


@pytest.mark.parametrize("password", [None, PASSWORD, "any-password-at-all"])
async def test_charger_without_password_is_refused(each_server, db_access, password):
    await sync_to_async(register)("CP-HARD-NOPW", password=None)

    assert await handshake_status(each_server, "CP-HARD-NOPW", password) == 403


async def test_charger_with_security_profile_0_connects_without_credentials_and_is_logged(
    charger, ocpp_server, tmp_path_factory
):
    for _ in range(2):
        async with charger("CP-HARD-PROFILE0", password=None, allow_unauthenticated=True) as cp:
            assert (await cp.boot()).status == "Accepted"
            await assert_still_up(cp)

    # A warning at every connection.
    log = server_log(tmp_path_factory, ocpp_server)
    assert log.count("CP-HARD-PROFILE0 connects without authentication") == 2


async def test_pending_charger_without_credentials_is_accepted_only_with_a_password(
    charger, open_server
):
    async with charger("CP-HARD-TOFU", registered=False, password=None, server=open_server) as cp:
        assert (await send(cp, "BootNotification", BOOT))["status"] == "Pending"
        pending = ChargePoint.objects.filter(charge_point_id="CP-HARD-TOFU")

        # Staff cannot accept it as it is.
        approved, without_password = await sync_to_async(operations.approve)(pending)
        assert (approved, without_password) == (0, ["CP-HARD-TOFU"])
        stored = await sync_to_async(_get)("CP-HARD-TOFU")
        assert stored.registration_status == ChargePoint.Registration.PENDING

        # Given a password, it is accepted; the connection that came without one is not
        # that charger: it is closed and must come back with the password.
        stored.set_password(PASSWORD)
        await sync_to_async(stored.save)()
        assert await sync_to_async(operations.approve)(pending) == (1, [])
        await cp._connection.send('[2, "after-approval", "Heartbeat", {}]')
        await asyncio.wait_for(cp._connection.wait_closed(), 10)

    assert await handshake_status(open_server, "CP-HARD-TOFU", None) == 403
    async with charger("CP-HARD-TOFU", registered=False, server=open_server) as cp:
        assert (await send(cp, "BootNotification", BOOT))["status"] == "Accepted"
        await assert_still_up(cp)


# --- One live socket per charger -----------------------------------------------------------


async def connect_all_at_once(charger, charge_point_id: str, servers: list[str], count: int):
    """`count` connections for one charger at once, spread over `servers`.

    Returns the simulated chargers and the tasks that hold them open.
    """
    await sync_to_async(register)(charge_point_id)
    chargers = []
    opened = asyncio.Event()

    async def hold(server: str) -> None:
        async with charger(charge_point_id, server=server) as cp:
            chargers.append(cp)
            if len(chargers) == count:
                opened.set()
            await cp._connection.wait_closed()

    tasks = [asyncio.create_task(hold(servers[i % len(servers)])) for i in range(count)]
    await asyncio.wait_for(opened.wait(), 60)
    return chargers, tasks


async def assert_one_socket_left_and_commands_delivered_once(charge_point_id, chargers, tasks):
    try:

        def closed():
            return [cp for cp in chargers if cp._connection.close_code is not None]

        # All but one are closed; then no other may follow.
        assert await eventually(lambda: len(closed()) == len(chargers) - 1, timeout=30)
        assert {cp._connection.close_code for cp in closed()} == {4000}
        (survivor,) = [cp for cp in chargers if cp._connection.close_code is None]
        await assert_still_up(survivor)

        for _ in range(3):
            answer = await commands.send(charge_point_id, call.ClearCache(), timeout=10)
            assert answer.status == "Accepted"
        delivered = [cp for cp in chargers for action, _ in cp.received if action == "ClearCache"]
        assert len(delivered) == 3
        assert all(cp is survivor for cp in delivered)
        assert len(closed()) == len(chargers) - 1
        stored = await sync_to_async(_get)(charge_point_id)
        assert stored.is_connected
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_simultaneous_connections_for_one_charger_leave_one_socket_that_gets_commands(
    charger, each_server
):
    chargers, tasks = await connect_all_at_once(charger, "CP-HARD-MANY", [each_server], 40)
    await assert_one_socket_left_and_commands_delivered_once("CP-HARD-MANY", chargers, tasks)


async def test_simultaneous_connections_over_two_servers_leave_one_socket_that_gets_commands(
    charger, ocpp_server, second_server
):
    chargers, tasks = await connect_all_at_once(
        charger, "CP-HARD-MANY-2", [ocpp_server, second_server], 40
    )
    await assert_one_socket_left_and_commands_delivered_once("CP-HARD-MANY-2", chargers, tasks)


# --- Storms and a failing channel layer ------------------------------------------------------


async def test_charger_is_refused_cleanly_when_the_channel_layer_fails(
    start_server, db_access, tmp_path_factory, server_kind
):
    # Nothing listens on this port: every channel-layer call fails.
    url = start_server("--server", server_kind, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    await sync_to_async(register)("CP-HARD-NOLAYER")

    assert await handshake_status(url, "CP-HARD-NOLAYER", PASSWORD) == 403

    stored = await sync_to_async(_get)("CP-HARD-NOLAYER")
    assert not stored.is_connected
    log = server_log(tmp_path_factory, url)
    assert "CP-HARD-NOLAYER: channel layer call failed" in log
    assert "Traceback" not in log


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="a storm on the Redis channel layer needs REDIS_URL"
)
async def test_storm_of_200_chargers_on_redis_gets_connections_or_clean_refusals(
    start_server, db_access, tmp_path_factory
):
    url = start_server()  # its own log: no other test's output in it
    ids = [f"CP-STORM-{i:03d}" for i in range(200)]
    template = ChargePoint(charge_point_id="template")
    template.set_password(PASSWORD)
    await sync_to_async(ChargePoint.objects.bulk_create)(
        [ChargePoint(charge_point_id=i, password_hash=template.password_hash) for i in ids]
    )

    statuses = await asyncio.gather(*(handshake_status(url, i, PASSWORD) for i in ids))

    assert set(statuses) <= {101, 403}, sorted(set(statuses))
    assert statuses.count(101) > 0
    assert await eventually(
        lambda: not ChargePoint.objects.filter(charge_point_id__in=ids, is_connected=True).exists(),
        timeout=30,
    )
    assert "Traceback" not in server_log(tmp_path_factory, url)
