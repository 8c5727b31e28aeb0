"""Server -> charger commands (OCPP 1.6 §5), sent from this process to a charger held
by the live server process: the charger gets the right request, the caller its answer.
"""

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from ocpp.exceptions import NotSupportedError
from ocpp.v16 import call, call_result

from stations import operations
from stations.models import ChargePoint, ChargerCommand, Reservation
from stations.ocpp import commands
from tests.charger import SimulatedCharger, call_result_of
from tests.conftest import eventually, register
from users.models import User

TX_PROFILE = {
    "charging_profile_id": 11,
    "stack_level": 0,
    "charging_profile_purpose": "TxProfile",
    "charging_profile_kind": "Absolute",
    "charging_schedule": {
        "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
    },
}

# (request, the answer the simulated charger gives by default, as the caller gets it)
EVERY_COMMAND = [
    (
        call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1),
        call_result.RemoteStartTransaction(status="Accepted"),
    ),
    (
        call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1, charging_profile=TX_PROFILE),
        call_result.RemoteStartTransaction(status="Accepted"),
    ),
    (
        call.RemoteStopTransaction(transaction_id=42),
        call_result.RemoteStopTransaction(status="Accepted"),
    ),
    (call.Reset(type="Hard"), call_result.Reset(status="Accepted")),
    (call.UnlockConnector(connector_id=2), call_result.UnlockConnector(status="Unlocked")),
    (
        call.ChangeAvailability(connector_id=0, type="Inoperative"),
        call_result.ChangeAvailability(status="Accepted"),
    ),
    (
        call.GetConfiguration(key=["HeartbeatInterval", "NumberOfConnectors"]),
        call_result.GetConfiguration(
            configuration_key=[
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            ],
            unknown_key=[],
        ),
    ),
    (
        call.ChangeConfiguration(key="HeartbeatInterval", value="120"),
        call_result.ChangeConfiguration(status="Accepted"),
    ),
    (call.ClearCache(), call_result.ClearCache(status="Accepted")),
    (
        call.DataTransfer(vendor_id="com.chargehub", message_id="ping", data="hello"),
        call_result.DataTransfer(status="Accepted", data="pong"),
    ),
    (
        call.TriggerMessage(requested_message="StatusNotification", connector_id=1),
        call_result.TriggerMessage(status="Accepted"),
    ),
    (
        call.UpdateFirmware(
            location="https://firmware.example/sim-22-1.3.0.bin",
            retrieve_date="2026-03-01T02:00:00.000Z",
            retries=3,
            retry_interval=60,
        ),
        call_result.UpdateFirmware(),
    ),
    (
        call.GetDiagnostics(
            location="ftp://diagnostics.example/upload/",
            start_time="2026-01-01T00:00:00.000Z",
            stop_time="2026-01-02T00:00:00+01:00",
        ),
        call_result.GetDiagnostics(file_name="diagnostics-0001.zip"),
    ),
    (
        call.ReserveNow(
            connector_id=1, expiry_date="2026-01-01T12:00:00.000Z", id_tag="TAG-1", reservation_id=7
        ),
        call_result.ReserveNow(status="Accepted"),
    ),
    (call.CancelReservation(reservation_id=7), call_result.CancelReservation(status="Accepted")),
    (
        call.SetChargingProfile(
            connector_id=1,
            cs_charging_profiles={**TX_PROFILE, "charging_profile_purpose": "TxDefaultProfile"},
        ),
        call_result.SetChargingProfile(status="Accepted"),
    ),
    (
        call.ClearChargingProfile(id=11, connector_id=1),
        call_result.ClearChargingProfile(status="Accepted"),
    ),
    (
        call.GetCompositeSchedule(connector_id=1, duration=3600, charging_rate_unit="A"),
        call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=1,
            schedule_start="2026-01-01T00:00:00Z",
            charging_schedule={
                "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": 16}],
            },
        ),
    ),
    (
        call.SendLocalList(
            list_version=4,
            update_type="Full",
            local_authorization_list=[
                {"id_tag": "TAG-1", "id_tag_info": {"status": "Accepted"}},
                {"id_tag": "TAG-2", "id_tag_info": {"status": "Blocked"}},
            ],
        ),
        call_result.SendLocalList(status="Accepted"),
    ),
    (call.GetLocalListVersion(), call_result.GetLocalListVersion(list_version=3)),
    # Security whitepaper (edition 3).
    (
        call.CertificateSigned(certificate_chain="-----BEGIN CERTIFICATE-----\n"),
        call_result.CertificateSigned(status="Accepted"),
    ),
    (
        call.InstallCertificate(
            certificate_type="CentralSystemRootCertificate",
            certificate="-----BEGIN CERTIFICATE-----\n",
        ),
        call_result.InstallCertificate(status="Accepted"),
    ),
    (
        call.GetInstalledCertificateIds(certificate_type="ManufacturerRootCertificate"),
        call_result.GetInstalledCertificateIds(status="NotFound"),
    ),
    (
        call.DeleteCertificate(
            certificate_hash_data={
                "hash_algorithm": "SHA256",
                "issuer_name_hash": "a" * 64,
                "issuer_key_hash": "b" * 64,
                "serial_number": "1f",
            }
        ),
        call_result.DeleteCertificate(status="Accepted"),
    ),
    (
        call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"),
        call_result.ExtendedTriggerMessage(status="Accepted"),
    ),
]


def _case_id(case: tuple[Any, Any]) -> str:
    request = case[0]
    with_profile = getattr(request, "charging_profile", None) is not None
    return type(request).__name__ + ("-with-profile" if with_profile else "")


def _sent_fields(request: Any) -> dict[str, Any]:
    """The request's fields as the charger's library hands them to its handler."""
    return {k: v for k, v in dataclasses.asdict(request).items() if v is not None}


@asynccontextmanager
async def answering_concurrently(cp: SimulatedCharger) -> AsyncIterator[None]:
    """Let the simulated charger keep reading its socket while it works on a command,
    as real firmware does (the library handles one CALL at a time otherwise)."""
    tasks: set[asyncio.Task[None]] = set()
    route = cp.route_message

    async def route_concurrently(raw: str) -> None:
        if json.loads(raw)[0] == 2:
            task = asyncio.create_task(route(raw))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        else:
            await route(raw)

    cp.route_message = route_concurrently  # type: ignore[method-assign]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()


def answer_with(cp: SimulatedCharger, action: str, handler: Callable[..., Awaitable[Any]]) -> None:
    """Replace the simulated charger's answer to `action` by `handler(**request)`."""

    async def on_action(**request: Any) -> Any:
        cp.received.append((action, request))
        return call_result_of(action, await handler(**request))

    cp.route_map[action]["_on_action"] = on_action


def _sent(charge_point_id: str, action: str) -> bool:
    """Whether commands.send() has recorded `action` for the charger (before delivering it)."""
    return ChargerCommand.objects.filter(
        charge_point__charge_point_id=charge_point_id, action=action
    ).exists()


def _command(charge_point_id: str, action: str) -> ChargerCommand:
    return ChargerCommand.objects.get(charge_point__charge_point_id=charge_point_id, action=action)


# --- Every command ------------------------------------------------------------------------


@pytest.mark.parametrize(("request_", "answer"), EVERY_COMMAND, ids=map(_case_id, EVERY_COMMAND))
async def test_command_reaches_the_charger_and_the_caller_gets_its_answer(
    charger, request_, answer
):
    cp_id = f"CMD-{_case_id((request_, answer))}"[:48]
    async with charger(cp_id) as cp:
        await cp.boot()
        got = await commands.send(cp_id, request_, timeout=10, source="test")

    assert cp.received == [(type(request_).__name__, _sent_fields(request_))]
    assert got == answer
    command = await sync_to_async(_command)(cp_id, type(request_).__name__)
    assert command.status == ChargerCommand.Status.ANSWERED
    assert command.source == "test"
    assert command.answered_at is not None


async def test_command_is_recorded_with_issuer_source_request_and_answer(charger):
    user = await sync_to_async(User.objects.create_user)(email="ops@example.com")
    async with charger("CMD-RECORD") as cp:
        await cp.boot()
        await commands.send(
            "CMD-RECORD",
            call.DataTransfer(vendor_id="com.chargehub", message_id="ping", data="hello"),
            issued_by=user,
            source="api",
        )
    command = await sync_to_async(_command)("CMD-RECORD", "DataTransfer")
    assert command.payload == {"vendorId": "com.chargehub", "messageId": "ping", "data": "hello"}
    assert command.issued_by_id == user.pk
    assert command.source == "api"
    assert command.status == ChargerCommand.Status.ANSWERED
    assert command.response == {"status": "Accepted", "data": "pong"}
    assert command.error == ""
    assert command.answered_at >= command.created_at


async def test_send_payload_takes_and_returns_camel_case_dicts(charger):
    async with charger("CMD-PAYLOAD") as cp:
        await cp.boot()
        answer = await commands.send_payload(
            "CMD-PAYLOAD", "GetCompositeSchedule", {"connectorId": 1, "duration": 60}
        )
    assert cp.received == [("GetCompositeSchedule", {"connector_id": 1, "duration": 60})]
    assert answer["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16}]


# --- Rules around commands (stations/operations.py) ----------------------------------------


async def test_remote_start_with_a_tx_profile_sends_the_profile(charger):
    async with charger("CMD-RS-PROFILE") as cp:
        await cp.boot()
        answer = await sync_to_async(operations.remote_start)(
            "CMD-RS-PROFILE", "TAG-1", 1, TX_PROFILE, source="test"
        )
    assert answer.status == "Accepted"
    assert cp.received == [
        (
            "RemoteStartTransaction",
            {"id_tag": "TAG-1", "connector_id": 1, "charging_profile": TX_PROFILE},
        )
    ]


async def test_remote_start_with_a_profile_other_than_tx_profile_is_refused_unsent(charger):
    async with charger("CMD-RS-BADPROFILE") as cp:
        await cp.boot()
        with pytest.raises(commands.InvalidCommand, match="TxProfile"):
            await sync_to_async(operations.remote_start)(
                "CMD-RS-BADPROFILE",
                "TAG-1",
                1,
                {**TX_PROFILE, "charging_profile_purpose": "TxDefaultProfile"},
            )
    assert cp.received == []


async def test_get_configuration_answer_is_stored_on_the_charge_point(charger):
    async with charger("CMD-CONFIG") as cp:
        await cp.boot()
        await sync_to_async(operations.refresh_configuration)("CMD-CONFIG", source="test")
        stored = await sync_to_async(ChargePoint.objects.get)(charge_point_id="CMD-CONFIG")
        assert stored.configuration == {
            "HeartbeatInterval": {"value": "300", "readonly": False},
            "NumberOfConnectors": {"value": "2", "readonly": True},
        }

        # Asking for some keys updates those and forgets the ones the charger does not know.
        cp.answers["GetConfiguration"] = {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}],
            "unknownKey": ["NumberOfConnectors"],
        }
        await sync_to_async(operations.refresh_configuration)(
            "CMD-CONFIG", ["HeartbeatInterval", "NumberOfConnectors"]
        )
    stored = await sync_to_async(ChargePoint.objects.get)(charge_point_id="CMD-CONFIG")
    assert stored.configuration == {"HeartbeatInterval": {"value": "60", "readonly": False}}
    assert cp.received[1] == (
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "NumberOfConnectors"]},
    )


async def test_change_configuration_accepted_updates_the_stored_value_rejected_does_not(charger):
    async with charger("CMD-CHANGE-CONFIG") as cp:
        await cp.boot()
        await sync_to_async(operations.refresh_configuration)("CMD-CHANGE-CONFIG")
        answer = await sync_to_async(operations.change_configuration)(
            "CMD-CHANGE-CONFIG", "HeartbeatInterval", "120"
        )
        assert answer.status == "Accepted"
        cp.answers["ChangeConfiguration"] = {"status": "Rejected"}
        answer = await sync_to_async(operations.change_configuration)(
            "CMD-CHANGE-CONFIG", "HeartbeatInterval", "5"
        )
        assert answer.status == "Rejected"
    stored = await sync_to_async(ChargePoint.objects.get)(charge_point_id="CMD-CHANGE-CONFIG")
    assert stored.configuration["HeartbeatInterval"] == {"value": "120", "readonly": False}


async def test_update_firmware_retrieve_date_is_sent_in_utc_with_its_offset(charger):
    local = datetime(2026, 3, 1, 3, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    async with charger("CMD-FIRMWARE") as cp:
        await cp.boot()
        await sync_to_async(operations.update_firmware)(
            "CMD-FIRMWARE", "https://firmware.example/1.3.0.bin", local, retries=2
        )
    assert cp.received == [
        (
            "UpdateFirmware",
            {
                "location": "https://firmware.example/1.3.0.bin",
                "retrieve_date": "2026-03-01T02:00:00.000Z",
                "retries": 2,
            },
        )
    ]


async def test_update_firmware_retrieve_date_without_utc_offset_is_invalid_and_not_sent(charger):
    async with charger("CMD-FIRMWARE-NAIVE") as cp:
        await cp.boot()
        request = call.UpdateFirmware(
            location="https://f.example/x.bin", retrieve_date="2026-03-01T02:00:00"
        )
        with pytest.raises(commands.InvalidCommand, match="retrieveDate"):
            await commands.send("CMD-FIRMWARE-NAIVE", request)
        with pytest.raises(commands.InvalidCommand, match="timezone-aware"):
            await sync_to_async(operations.update_firmware)(
                "CMD-FIRMWARE-NAIVE", "https://f.example/x.bin", datetime(2026, 3, 1, 2, 0)
            )
    assert cp.received == []


async def test_reserve_now_creates_a_reservation_whose_id_is_the_reservation_id(charger):
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    async with charger("CMD-RESERVE") as cp:
        await cp.boot()
        reservation = await sync_to_async(operations.reserve_now)(
            "CMD-RESERVE", 1, "TAG-1", expires_at, source="test"
        )
        cp.answers["ReserveNow"] = {"status": "Occupied"}
        occupied = await sync_to_async(operations.reserve_now)(
            "CMD-RESERVE", 2, "TAG-2", expires_at
        )
    assert cp.received[0] == (
        "ReserveNow",
        {
            "connector_id": 1,
            "expiry_date": expires_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "id_tag": "TAG-1",
            "reservation_id": reservation.pk,
        },
    )
    assert cp.received[1][1]["reservation_id"] == occupied.pk != reservation.pk
    stored = await sync_to_async(Reservation.objects.get)(pk=reservation.pk)
    assert (stored.connector_id, stored.id_tag, stored.expires_at, stored.status) == (
        1,
        "TAG-1",
        expires_at,
        Reservation.Status.ACCEPTED,
    )
    stored = await sync_to_async(Reservation.objects.get)(pk=occupied.pk)
    assert stored.status == Reservation.Status.REJECTED


async def test_reserve_now_with_an_existing_reservation_id_replaces_that_reservation(charger):
    expires_at = datetime.now(UTC) + timedelta(minutes=30)
    async with charger("CMD-RESERVE-AGAIN") as cp:
        await cp.boot()
        first = await sync_to_async(operations.reserve_now)(
            "CMD-RESERVE-AGAIN", 1, "TAG-1", expires_at
        )
        again = await sync_to_async(operations.reserve_now)(
            "CMD-RESERVE-AGAIN", 2, "TAG-9", expires_at, reservation_id=first.pk
        )
    assert again.pk == first.pk
    assert [request["reservation_id"] for _, request in cp.received] == [first.pk, first.pk]
    count = await sync_to_async(
        Reservation.objects.filter(charge_point__charge_point_id="CMD-RESERVE-AGAIN").count
    )()
    assert count == 1
    stored = await sync_to_async(Reservation.objects.get)(pk=first.pk)
    assert (stored.connector_id, stored.id_tag) == (2, "TAG-9")


async def test_reserve_now_for_an_offline_charger_is_rejected_and_raises(db_access):
    await sync_to_async(register)("CMD-RESERVE-OFFLINE")
    with pytest.raises(commands.ChargerOffline):
        await sync_to_async(operations.reserve_now)(
            "CMD-RESERVE-OFFLINE", 1, "TAG-1", datetime.now(UTC) + timedelta(minutes=5)
        )
    stored = await sync_to_async(Reservation.objects.get)(
        charge_point__charge_point_id="CMD-RESERVE-OFFLINE"
    )
    assert stored.status == Reservation.Status.REJECTED


async def test_reserve_now_that_expires_in_the_past_is_refused_unsent(charger):
    async with charger("CMD-RESERVE-PAST") as cp:
        await cp.boot()
        with pytest.raises(commands.InvalidCommand, match="future"):
            await sync_to_async(operations.reserve_now)(
                "CMD-RESERVE-PAST", 1, "TAG-1", datetime.now(UTC) - timedelta(minutes=1)
            )
    assert cp.received == []


async def test_cancel_reservation_accepted_marks_it_cancelled(charger):
    async with charger("CMD-CANCEL") as cp:
        await cp.boot()
        reservation = await sync_to_async(operations.reserve_now)(
            "CMD-CANCEL", 1, "TAG-1", datetime.now(UTC) + timedelta(minutes=30)
        )
        reservation = await sync_to_async(Reservation.objects.select_related("charge_point").get)(
            pk=reservation.pk
        )
        answer = await sync_to_async(operations.cancel_reservation)(reservation)
    assert answer.status == "Accepted"
    assert cp.received[-1] == ("CancelReservation", {"reservation_id": reservation.pk})
    stored = await sync_to_async(Reservation.objects.get)(pk=reservation.pk)
    assert stored.status == Reservation.Status.CANCELLED


# --- When things go wrong -------------------------------------------------------------------


async def test_charger_answering_callerror_raises_call_error_received_with_its_code(charger):
    async with charger("CMD-CALLERROR") as cp:
        await cp.boot()
        cp.answers["UnlockConnector"] = NotSupportedError("No locking cable here")
        with pytest.raises(commands.CallErrorReceived) as raised:
            await commands.send("CMD-CALLERROR", call.UnlockConnector(connector_id=1))
    assert raised.value.error_code == "NotSupported"
    assert raised.value.description == "No locking cable here"
    command = await sync_to_async(_command)("CMD-CALLERROR", "UnlockConnector")
    assert command.status == ChargerCommand.Status.ERROR
    assert "NotSupported" in command.error


async def test_charger_that_never_answers_times_out(charger):
    async with charger("CMD-SILENT") as cp:
        await cp.boot()
        cp.answers["Reset"] = "silence"
        with pytest.raises(commands.CommandTimeout):
            await commands.send("CMD-SILENT", call.Reset(type="Soft"), timeout=1)
    assert [action for action, _ in cp.received] == ["Reset"]
    command = await sync_to_async(_command)("CMD-SILENT", "Reset")
    assert command.status == ChargerCommand.Status.TIMEOUT
    assert command.answered_at is not None


async def test_command_to_a_charger_that_is_not_connected_is_charger_offline(db_access):
    await sync_to_async(register)("CMD-NEVER-CONNECTED")
    with pytest.raises(commands.ChargerOffline, match="not connected"):
        await commands.send("CMD-NEVER-CONNECTED", call.Reset(type="Soft"))
    command = await sync_to_async(_command)("CMD-NEVER-CONNECTED", "Reset")
    assert command.status == ChargerCommand.Status.OFFLINE


async def test_command_to_a_charger_no_server_process_holds_is_charger_offline(db_access):
    # The database says connected (a server died without marking it), nobody holds it.
    await sync_to_async(register)("CMD-GHOST", is_connected=True, last_seen_at=datetime.now(UTC))
    with pytest.raises(commands.ChargerOffline, match="No server process"):
        await commands.send("CMD-GHOST", call.Reset(type="Soft"))


async def test_charger_disconnecting_while_a_command_waits_gives_charger_offline(charger):
    async with charger("CMD-GONE") as cp:
        await cp.boot()
        cp.answers["GetDiagnostics"] = "silence"
        waiting = asyncio.create_task(
            commands.send("CMD-GONE", call.GetDiagnostics(location="ftp://d.example/"), timeout=30)
        )
        await eventually(lambda: cp.received)
        await cp._connection.close()
        with pytest.raises(commands.ChargerOffline, match="disconnected"):
            await waiting
    command = await sync_to_async(_command)("CMD-GONE", "GetDiagnostics")
    assert command.status == ChargerCommand.Status.OFFLINE


async def test_schema_invalid_request_is_invalid_command_and_nothing_is_sent(charger):
    async with charger("CMD-INVALID") as cp:
        await cp.boot()
        with pytest.raises(commands.InvalidCommand, match="type"):
            await commands.send("CMD-INVALID", call.Reset(type="Gentle"))
        with pytest.raises(commands.InvalidCommand, match="connectorId"):
            await commands.send_payload("CMD-INVALID", "UnlockConnector", {})
        # Proof the charger was listening all along.
        await commands.send("CMD-INVALID", call.ClearCache())
    assert [action for action, _ in cp.received] == ["ClearCache"]
    statuses = await sync_to_async(list)(
        ChargerCommand.objects.filter(charge_point__charge_point_id="CMD-INVALID")
        .order_by("id")
        .values_list("status", flat=True)
    )
    assert statuses == ["invalid", "invalid", "answered"]


async def test_action_a_central_system_does_not_send_is_invalid_command(charger):
    async with charger("CMD-WRONG-WAY") as cp:
        await cp.boot()
        with pytest.raises(commands.InvalidCommand, match="Heartbeat"):
            await commands.send("CMD-WRONG-WAY", call.Heartbeat())
    assert cp.received == []


async def test_command_to_an_unknown_charge_point_is_unknown_charge_point(db_access):
    with pytest.raises(commands.UnknownChargePoint):
        await commands.send("CMD-NO-SUCH", call.Reset(type="Soft"))


async def test_schema_invalid_answer_from_the_charger_is_a_command_error_and_kept(charger):
    async with charger("CMD-BAD-ANSWER") as cp:
        await cp.boot()
        cp.answers["Reset"] = {"status": "Maybe"}
        with pytest.raises(commands.CommandError, match="invalid payload"):
            await commands.send("CMD-BAD-ANSWER", call.Reset(type="Soft"))
    command = await sync_to_async(_command)("CMD-BAD-ANSWER", "Reset")
    assert command.status == ChargerCommand.Status.ERROR
    assert command.response == {"status": "Maybe"}


# --- One CALL at a time (OCPP-J 1.6 §4.1.1) -----------------------------------------------------


async def test_concurrent_commands_are_both_answered_with_one_call_outstanding_at_a_time(charger):
    events: list[tuple[str, str]] = []
    release = asyncio.Event()

    def recorded(action: str, held: bool = False) -> Callable[..., Awaitable[Any]]:
        async def handler(**request: Any) -> dict[str, Any]:
            events.append(("received", action))
            if held:
                await release.wait()
            events.append(("answered", action))
            return {"status": "Accepted"}

        return handler

    async with charger("CMD-CONCURRENT") as cp, answering_concurrently(cp):
        await cp.boot()
        answer_with(cp, "Reset", recorded("Reset", held=True))
        answer_with(cp, "ClearCache", recorded("ClearCache"))
        reset = asyncio.create_task(
            commands.send("CMD-CONCURRENT", call.Reset(type="Soft"), timeout=10)
        )
        await eventually(lambda: cp.received)
        clear = asyncio.create_task(commands.send("CMD-CONCURRENT", call.ClearCache(), timeout=10))
        await eventually(lambda: _sent("CMD-CONCURRENT", "ClearCache"))
        # A marker behind ClearCache on the way to the consumer, which takes its events in
        # order: timed out there while Reset is outstanding, it shows that ClearCache
        # reached the consumer first and would have gone out by now, were it not waiting.
        with pytest.raises(commands.CommandTimeout):
            await commands.send("CMD-CONCURRENT", call.GetLocalListVersion(), timeout=0.01)
        release.set()
        answers = await asyncio.gather(reset, clear)
    assert [answer.status for answer in answers] == ["Accepted", "Accepted"]
    assert events == [
        ("received", "Reset"),
        ("answered", "Reset"),
        ("received", "ClearCache"),
        ("answered", "ClearCache"),
    ]
    assert [action for action, _ in cp.received] == ["Reset", "ClearCache"]


async def test_command_waiting_its_turn_past_its_timeout_is_never_sent(charger):
    async with charger("CMD-QUEUED") as cp, answering_concurrently(cp):
        await cp.boot()
        cp.answers["Reset"] = "silence"
        first = asyncio.create_task(commands.send("CMD-QUEUED", call.Reset(type="Soft"), timeout=3))
        await eventually(lambda: cp.received)
        with pytest.raises(commands.CommandTimeout):
            await commands.send("CMD-QUEUED", call.ClearCache(), timeout=1)
        with pytest.raises(commands.CommandTimeout):
            await first
        # FIFO: had ClearCache been kept in the queue, it would reach the charger first.
        await commands.send("CMD-QUEUED", call.GetLocalListVersion(), timeout=10)
    assert [action for action, _ in cp.received] == ["Reset", "GetLocalListVersion"]


async def test_charger_calls_while_a_command_waits_are_answered(charger):
    release = asyncio.Event()

    async def answer_when_released(**request: Any) -> dict[str, Any]:
        await release.wait()
        return {"status": "Accepted"}

    async with charger("CMD-BOTH-WAYS") as cp, answering_concurrently(cp):
        await cp.boot()
        answer_with(cp, "ChangeAvailability", answer_when_released)
        waiting = asyncio.create_task(
            commands.send(
                "CMD-BOTH-WAYS",
                call.ChangeAvailability(connector_id=1, type="Inoperative"),
                timeout=30,
            )
        )
        await eventually(lambda: cp.received)
        heartbeat = await cp.call(call.Heartbeat())
        meter_values = await cp.call(
            call.MeterValues(
                connector_id=1,
                meter_value=[
                    {
                        "timestamp": datetime.now(UTC).isoformat(),
                        "sampled_value": [{"value": "1234", "unit": "Wh"}],
                    }
                ],
            )
        )
        assert not waiting.done()
        release.set()
        answer = await waiting
    assert heartbeat.current_time
    assert meter_values == call_result.MeterValues()
    assert answer.status == "Accepted"


# --- Several threads of one process --------------------------------------------------------


async def test_two_threads_of_one_process_send_commands_at_the_same_moment(charger):
    # A Celery worker's thread pool: two threads in send_sync at once, both waiting for
    # their answers (channels_redis lets one event loop at a time receive on a layer).
    release = asyncio.Event()

    async def held(**request: Any) -> dict[str, Any]:
        await release.wait()
        return {"status": "Accepted"}

    def send_from_a_worker_thread(charge_point_id: str) -> Any:
        try:
            return commands.send_sync(charge_point_id, call.Reset(type="Soft"))
        finally:
            connections.close_all()

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(2) as pool:
        async with charger("CMD-THREAD-A") as first, charger("CMD-THREAD-B") as second:
            await first.boot()
            await second.boot()
            answer_with(first, "Reset", held)
            answer_with(second, "Reset", held)
            to_first = loop.run_in_executor(pool, send_from_a_worker_thread, "CMD-THREAD-A")
            await eventually(lambda: first.received)
            to_second = loop.run_in_executor(pool, send_from_a_worker_thread, "CMD-THREAD-B")
            await eventually(lambda: second.received or to_second.done())
            release.set()
            answers = await asyncio.gather(to_first, to_second)
    assert answers == [call_result.Reset(status="Accepted")] * 2
