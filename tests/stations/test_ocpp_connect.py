"""Connecting: subprotocol, security profile 1 (Basic auth), replacement, Pending approval."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from stations.charger_auth import CHARGER_HASHER
from stations.models import ChargePoint, ConnectionEvent, RefusedConnection
from stations.ocpp import connections
from tests.conftest import PASSWORD, basic_auth, eventually, register
from tests.stations.ocpp_wire import assert_still_up, send, send_expecting_error
from tests.waiting import wait_until

PENDING_RETRY_INTERVAL = 17


@pytest.fixture
def ocpp_server(each_server):
    """The handshake is the server's and the consumer's together: each test here runs
    against daphne and uvicorn."""
    return each_server


@pytest.fixture(scope="session")
def open_servers() -> dict[str, str]:
    return {}


@pytest.fixture
def open_server(server_kind, open_servers, start_server):
    """A server of the test's kind that lets unknown chargers in as Pending
    (OCPP_ALLOW_UNKNOWN_CHARGERS), started when first asked."""
    if server_kind not in open_servers:
        open_servers[server_kind] = start_server(
            "--server",
            server_kind,
            OCPP_ALLOW_UNKNOWN_CHARGERS="1",
            OCPP_PENDING_RETRY_INTERVAL=str(PENDING_RETRY_INTERVAL),
        )
    return open_servers[server_kind]


def _get(charge_point_id: str) -> ChargePoint:
    return ChargePoint.objects.get(charge_point_id=charge_point_id)


async def _refused(url: str, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(url, open_timeout=10, **kwargs):
            pass
    return refusal.value.response.status_code


# --- Subprotocol -----------------------------------------------------------------------


async def test_connection_negotiates_the_ocpp16_subprotocol(charger):
    async with charger("CP-CONN-SUB", subprotocols=("ocpp2.0.1", "ocpp1.6")) as cp:
        assert cp._connection.subprotocol == "ocpp1.6"
        await assert_still_up(cp)
    stored = await sync_to_async(_get)("CP-CONN-SUB")
    assert stored.protocol == "ocpp1.6"


async def test_connection_without_subprotocol_is_refused_with_403(ocpp_server, db_access):
    await sync_to_async(register)("CP-CONN-NOSUB")
    status = await _refused(
        f"{ocpp_server}/ocpp/CP-CONN-NOSUB",
        additional_headers=basic_auth("CP-CONN-NOSUB", PASSWORD),
    )
    assert status == 403


async def test_connection_with_only_unsupported_subprotocols_is_refused_with_403(charger):
    with pytest.raises(InvalidStatus) as refusal:
        async with charger("CP-CONN-BADSUB", subprotocols=("ocpp1.5", "ocpp2.0")):
            pass
    assert refusal.value.response.status_code == 403


# --- Security profile 1: HTTP Basic auth on the upgrade --------------------------------


async def test_charger_password_is_stored_hashed_not_in_clear(db_access):
    charge_point = await sync_to_async(register)("CP-CONN-HASH")
    assert PASSWORD not in charge_point.password_hash
    assert charge_point.password_hash.startswith(CHARGER_HASHER + "$")
    assert charge_point.check_password(PASSWORD)
    assert not charge_point.check_password(PASSWORD.upper())


async def test_connection_with_wrong_password_is_refused(ocpp_server, db_access):
    await sync_to_async(register)("CP-CONN-WRONGPW")
    status = await _refused(
        f"{ocpp_server}/ocpp/CP-CONN-WRONGPW",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth("CP-CONN-WRONGPW", "not-the-password"),
    )
    assert status == 403


async def test_a_refused_charger_is_recorded_with_its_address_not_the_one_it_claims(
    ocpp_server, db_access
):
    # X-Forwarded-For is written by the client: without TRUSTED_PROXY_COUNT the server
    # (daphne, uvicorn) must not take the address from it.
    await sync_to_async(register)("CP-CONN-CLAIMS")
    headers = {**basic_auth("CP-CONN-CLAIMS", "wrong"), "X-Forwarded-For": "198.51.100.9"}
    status = await _refused(
        f"{ocpp_server}/ocpp/CP-CONN-CLAIMS", subprotocols=["ocpp1.6"], additional_headers=headers
    )
    assert status == 403

    def recorded_addresses() -> list[str]:
        refusals = RefusedConnection.objects.filter(charge_point_id="CP-CONN-CLAIMS")
        return list(refusals.values_list("address", flat=True))

    assert await eventually(lambda: recorded_addresses() == ["127.0.0.1"])


async def test_connection_without_basic_auth_is_refused(ocpp_server, db_access):
    await sync_to_async(register)("CP-CONN-NOAUTH")
    status = await _refused(f"{ocpp_server}/ocpp/CP-CONN-NOAUTH", subprotocols=["ocpp1.6"])
    assert status == 403


async def test_connection_whose_username_is_not_the_charge_point_id_is_refused(
    ocpp_server, db_access
):
    await sync_to_async(register)("CP-CONN-USER-A")
    await sync_to_async(register)("CP-CONN-USER-B")
    # B's valid credentials do not open A's endpoint.
    status = await _refused(
        f"{ocpp_server}/ocpp/CP-CONN-USER-A",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth("CP-CONN-USER-B", PASSWORD),
    )
    assert status == 403


async def test_connection_of_unknown_charge_point_id_is_refused(charger):
    with pytest.raises(InvalidStatus) as refusal:
        async with charger("CP-CONN-UNKNOWN", registered=False):
            pass
    assert refusal.value.response.status_code == 403
    assert not await sync_to_async(
        ChargePoint.objects.filter(charge_point_id="CP-CONN-UNKNOWN").exists
    )()


async def test_connection_of_rejected_charge_point_is_refused(charger):
    with pytest.raises(InvalidStatus) as refusal:
        async with charger(
            "CP-CONN-REJECTED", registration_status=ChargePoint.Registration.REJECTED
        ):
            pass
    assert refusal.value.response.status_code == 403


async def test_connection_with_unsafe_charge_point_id_is_refused(ocpp_server, db_access):
    status = await _refused(
        f"{ocpp_server}/ocpp/CP%20SPACE", subprotocols=["ocpp1.6"], additional_headers={}
    )
    assert status == 403


# --- One socket per charger -------------------------------------------------------------


async def test_second_connection_replaces_the_first_which_is_closed_with_4000(charger):
    async with charger("CP-CONN-TWICE") as first:
        await assert_still_up(first)
        async with charger("CP-CONN-TWICE") as second:
            await asyncio.wait_for(first._connection.wait_closed(), 10)
            assert first._connection.close_code == 4000
            # The charger is still connected, through the second socket.
            await assert_still_up(second)
            stored = await eventually(lambda: _get("CP-CONN-TWICE"))
            assert stored.is_connected
            await assert_still_up(second)
            assert (await sync_to_async(_get)("CP-CONN-TWICE")).is_connected
    assert await eventually(lambda: not _get("CP-CONN-TWICE").is_connected)


async def test_a_closed_connection_leaves_the_charger_to_no_connection_and_the_next_takes_it(
    charger,
):
    """A charger that closed its socket is owned by no connection, so the next one takes
    it without telling other processes (no ocpp.replaced, no ownership check)."""
    async with charger("CP-CONN-AGAIN") as first:
        await assert_still_up(first)
        owner = (await sync_to_async(_get)("CP-CONN-AGAIN")).connection_id
        assert owner
    gone = await eventually(lambda: not (cp := _get("CP-CONN-AGAIN")).is_connected and cp)
    assert gone.connection_id == ""
    async with charger("CP-CONN-AGAIN") as second:
        await assert_still_up(second)
        stored = await sync_to_async(_get)("CP-CONN-AGAIN")
        assert stored.is_connected
        assert stored.connection_id not in ("", owner)
        async with charger("CP-CONN-AGAIN") as third:
            # The one after it did not take it from no one: the second is told and closes.
            await asyncio.wait_for(second._connection.wait_closed(), 10)
            assert second._connection.close_code == 4000
            await assert_still_up(third)


def _online_history(charge_point_id: str) -> list[str]:
    """The charger's ConnectionEvent kinds, oldest first."""
    history = ConnectionEvent.objects.filter(charge_point__charge_point_id=charge_point_id)
    return list(history.order_by("at", "pk").values_list("kind", flat=True))


async def test_a_connection_and_its_close_are_the_chargers_online_history(charger):
    """Uptime reads its offline time from these rows (operations/downtime.py), so each
    connect and each disconnect of a real socket must leave one."""
    async with charger("CP-CONN-HISTORY") as cp:
        await assert_still_up(cp)
        assert await sync_to_async(_online_history)("CP-CONN-HISTORY") == ["connected"]
    both = ["connected", "disconnected"]
    assert await eventually(lambda: _online_history("CP-CONN-HISTORY") == both)
    disconnected = await sync_to_async(
        lambda: (
            ConnectionEvent.objects.get(
                charge_point__charge_point_id="CP-CONN-HISTORY", kind="disconnected"
            ).at
        )
    )()
    assert disconnected == (await sync_to_async(_get)("CP-CONN-HISTORY")).disconnected_at


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="another connection's TRUNCATE (PostgreSQL)"
)
@pytest.mark.django_db(transaction=True)
def test_a_charger_deleted_as_its_socket_closes_is_disconnected_quietly_then_deleted():
    """A transactional test's flush (or staff) deletes the charger the moment its socket
    closes: the deletion waits for the disconnect, which reads no vanished row."""
    register("CP-CONN-GONE")
    ChargePoint.objects.filter(charge_point_id="CP-CONN-GONE").update(
        is_connected=True, connection_id="conn-gone"
    )
    deleting: list[threading.Thread] = []

    def delete_right_after_the_update(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not deleting and sql.startswith('UPDATE "stations_chargepoint"'):
            deleting.append(threading.Thread(target=_flush_charge_points))
            deleting[0].start()
            # Until it has deleted, or waits for this transaction to end.
            assert wait_until(lambda: not deleting[0].is_alive() or _truncate_waits(), timeout=10)
        return result

    with connection.execute_wrapper(delete_right_after_the_update):
        connections.mark_disconnected("CP-CONN-GONE", "conn-gone")
    deleting[0].join(10)
    assert not deleting[0].is_alive()
    assert not ChargePoint.objects.filter(charge_point_id="CP-CONN-GONE").exists()


def _flush_charge_points() -> None:
    # As a transactional test's teardown does, from a connection of its own (this thread's).
    try:
        with connection.cursor() as cursor:
            cursor.execute('TRUNCATE "stations_chargepoint" CASCADE')
    finally:
        connection.close()


def _truncate_waits() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else read once per transaction
        cursor.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE 'TRUNCATE%%'"
        )
        return cursor.fetchone() is not None


# --- Unknown chargers as Pending, approved by staff --------------------------------------


async def test_unknown_charger_is_admitted_as_pending_until_staff_accept_it(charger, open_server):
    async with charger("CP-CONN-NEW", registered=False, server=open_server) as cp:
        stored = await sync_to_async(_get)("CP-CONN-NEW")
        assert stored.registration_status == ChargePoint.Registration.PENDING
        # Trust on first use: the password it came with, hashed, is its password.
        assert stored.check_password(PASSWORD)
        assert PASSWORD not in stored.password_hash

        boot = {"chargePointVendor": "ChargeHub", "chargePointModel": "Sim-22"}
        answer = await send(cp, "BootNotification", boot)
        assert answer["status"] == "Pending"
        assert answer["interval"] == PENDING_RETRY_INTERVAL

        # OCPP 1.6 §4.2.1: until accepted, nothing but BootNotification is taken.
        await send_expecting_error(cp, "Heartbeat", {}, "SecurityError")
        await send_expecting_error(
            cp,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
            "SecurityError",
        )
        answer = await send(cp, "BootNotification", boot)
        assert answer["status"] == "Pending"

        await sync_to_async(ChargePoint.objects.filter(charge_point_id="CP-CONN-NEW").update)(
            registration_status=ChargePoint.Registration.ACCEPTED
        )

        answer = await send(cp, "BootNotification", boot)
        assert answer["status"] == "Accepted"
        assert answer["interval"] == 60
        await assert_still_up(cp)


async def test_pending_charger_reconnecting_with_another_password_is_refused(charger, open_server):
    async with charger("CP-CONN-TOFU", registered=False, server=open_server) as cp:
        await send(cp, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    with pytest.raises(InvalidStatus) as refusal:
        async with charger(
            "CP-CONN-TOFU", registered=False, server=open_server, password="another-password-1"
        ):
            pass
    assert refusal.value.response.status_code == 403


async def test_unknown_charger_with_username_mismatch_is_refused_even_when_open(
    open_server, db_access
):
    status = await _refused(
        f"{open_server}/ocpp/CP-CONN-OPEN-A",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth("CP-CONN-OPEN-B", PASSWORD),
    )
    assert status == 403
    assert not await sync_to_async(
        ChargePoint.objects.filter(charge_point_id="CP-CONN-OPEN-A").exists
    )()
