"""StartTransaction / StopTransaction (OCPP 1.6 §4.8, §4.10) in a messy world:
retransmissions after reconnects, offline queues, wrong clocks, sessions never stopped."""

import re
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from stations import sessions
from stations.models import ChargingSession, MeterSample
from tests.stations.handling import handle
from tests.stations.ocpp_wire import ago, iso, send
from users.models import IdToken


def start(connector_id: int, id_tag: str, meter_start: int, when: datetime) -> dict:
    return {
        "connectorId": connector_id,
        "idTag": id_tag,
        "meterStart": meter_start,
        "timestamp": iso(when),
    }


def stop(transaction_id: int, meter_stop: int, when: datetime, **extra) -> dict:
    return {
        "transactionId": transaction_id,
        "meterStop": meter_stop,
        "timestamp": iso(when),
        **extra,
    }


def energy_reading(when: datetime, wh: int, context: str = "Sample.Periodic") -> dict:
    return {
        "timestamp": iso(when),
        "sampledValue": [
            {
                "value": str(wh),
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
                "context": context,
            }
        ],
    }


def _sessions(charge_point_id: str) -> list[ChargingSession]:
    return list(
        ChargingSession.objects.filter(charge_point__charge_point_id=charge_point_id).order_by("pk")
    )


def _session(pk: int) -> ChargingSession:
    return ChargingSession.objects.select_related("connector", "id_token").get(pk=pk)


async def test_full_transaction_is_stored_with_energy_from_the_meter_readings(charger):
    await sync_to_async(IdToken.objects.create)(uid="TX-FULL-1")
    started, stopped = ago(minutes=30), ago(minutes=1)
    async with charger("CP-TX-FULL") as cp:
        answer = await send(cp, "StartTransaction", start(2, "tx-full-1", 1000, started))
        assert answer["idTagInfo"] == {"status": "Accepted"}
        transaction_id = answer["transactionId"]
        answer = await send(
            cp,
            "StopTransaction",
            stop(
                transaction_id,
                8500,
                stopped,
                idTag="TX-FULL-1",
                transactionData=[
                    energy_reading(started, 1000, "Transaction.Begin"),
                    energy_reading(stopped, 8500, "Transaction.End"),
                ],
            ),
        )
        assert answer == {"idTagInfo": {"status": "Accepted"}}
    session = await sync_to_async(_session)(transaction_id)
    assert session.connector.connector_id == 2
    assert session.id_tag == "TX-FULL-1"
    assert session.id_token is not None
    assert session.status == ChargingSession.Status.COMPLETED
    assert (session.started_at, session.stopped_at) == (started, stopped)
    assert (session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (1000, 8500, 7500)
    # OCPP 1.6 §7.40: a StopTransaction without a reason was stopped Local.
    assert session.stop_reason == "Local"
    assert session.stop_id_tag == "TX-FULL-1"
    assert session.closed_by == "charger"
    assert not session.clock_suspect
    samples = await sync_to_async(list)(
        MeterSample.objects.filter(session_id=transaction_id).values_list(
            "context", "value", "connector_id"
        )
    )
    assert sorted(samples) == [("Transaction.Begin", "1000", 2), ("Transaction.End", "8500", 2)]


async def test_stop_transaction_keeps_the_reason_the_charger_gives(charger):
    async with charger("CP-TX-REASON") as cp:
        answer = await send(cp, "StartTransaction", start(1, "ANY", 0, ago(minutes=5)))
        assert answer["idTagInfo"]["status"] == "Invalid"  # still a transaction (§4.8)
        await send(
            cp, "StopTransaction", stop(answer["transactionId"], 10, ago(), reason="EVDisconnected")
        )
    session = await sync_to_async(_session)(answer["transactionId"])
    assert session.stop_reason == "EVDisconnected"
    assert session.energy_wh == 10


async def test_start_transaction_retransmitted_after_reconnect_returns_same_id_and_creates_nothing(
    charger,
):
    request = start(1, "TX-RETRY", 500, ago(minutes=3))
    async with charger("CP-TX-RETRY") as cp:
        first = await send(cp, "StartTransaction", request)
    # The answer was lost with the connection; the charger reconnects and resends.
    async with charger("CP-TX-RETRY") as cp:
        again = await send(cp, "StartTransaction", request)
    assert again["transactionId"] == first["transactionId"]
    sessions = await sync_to_async(_sessions)("CP-TX-RETRY")
    assert [(s.pk, s.status, s.closed_by) for s in sessions] == [
        (first["transactionId"], ChargingSession.Status.ACTIVE, "")
    ]


async def test_start_transaction_with_wrong_clock_retransmitted_returns_same_id(charger):
    # A charger living days in the future: its time is not believed, so the session
    # carries the server's receive time, which differs on each retransmission.
    request = start(1, "TX-SKEW-RETRY", 700, ago(days=-3))
    async with charger("CP-TX-SKEW-RETRY") as cp:
        first = await send(cp, "StartTransaction", request)
    async with charger("CP-TX-SKEW-RETRY") as cp:
        again = await send(cp, "StartTransaction", request)
    assert again["transactionId"] == first["transactionId"]
    sessions = await sync_to_async(_sessions)("CP-TX-SKEW-RETRY")
    assert len(sessions) == 1
    assert sessions[0].status == ChargingSession.Status.ACTIVE


async def test_stop_transaction_retransmitted_after_reconnect_is_not_billed_twice(charger):
    async with charger("CP-TX-STOP2") as cp:
        transaction_id = (await send(cp, "StartTransaction", start(1, "T", 100, ago(minutes=9))))[
            "transactionId"
        ]
        request = stop(
            transaction_id,
            2100,
            ago(minutes=1),
            transactionData=[energy_reading(ago(minutes=1), 2100, "Transaction.End")],
        )
        assert await send(cp, "StopTransaction", request) == {}
    async with charger("CP-TX-STOP2") as cp:
        assert await send(cp, "StopTransaction", request) == {}
        # Even a second stop with other figures does not change a charger-closed session.
        assert await send(cp, "StopTransaction", {**request, "meterStop": 9999}) == {}
    session = await sync_to_async(_session)(transaction_id)
    assert (session.meter_stop_wh, session.energy_wh) == (2100, 2000)
    assert await sync_to_async(MeterSample.objects.filter(session_id=transaction_id).count)() == 1


async def test_stop_transaction_for_unknown_transaction_is_answered_not_refused(charger):
    await sync_to_async(IdToken.objects.create)(uid="TX-GHOST-TAG")
    async with charger("CP-TX-GHOST") as cp:
        assert await send(cp, "StopTransaction", stop(987654, 100, ago())) == {}
        answer = await send(cp, "StopTransaction", stop(987655, 100, ago(), idTag="tx-ghost-tag"))
    assert answer == {"idTagInfo": {"status": "Accepted"}}
    assert await sync_to_async(_sessions)("CP-TX-GHOST") == []


async def test_stop_transaction_for_another_chargers_transaction_changes_nothing(charger):
    async with charger("CP-TX-OWNER") as owner:
        transaction_id = (await send(owner, "StartTransaction", start(1, "T", 0, ago())))[
            "transactionId"
        ]
    async with charger("CP-TX-INTRUDER") as intruder:
        assert await send(intruder, "StopTransaction", stop(transaction_id, 50, ago())) == {}
    assert (await sync_to_async(_session)(transaction_id)).status == ChargingSession.Status.ACTIVE


async def test_messages_queued_offline_are_accepted_in_order_with_the_chargers_times(charger):
    t0, t1, t2 = ago(hours=3), ago(hours=2), ago(hours=1)
    async with charger("CP-TX-QUEUE") as cp:
        await send(cp, "Heartbeat", {})
    # Offline for hours; on reconnect the queue is sent in order with its old timestamps.
    async with charger("CP-TX-QUEUE") as cp:
        await send(
            cp,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": iso(t0)},
        )
        transaction_id = (await send(cp, "StartTransaction", start(1, "Q", 10_000, t0)))[
            "transactionId"
        ]
        await send(
            cp,
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [energy_reading(t1, 15_000)],
            },
        )
        await send(cp, "StopTransaction", stop(transaction_id, 20_000, t2))
        await send(
            cp,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": iso(t2)},
        )
    session = await sync_to_async(_session)(transaction_id)
    assert (session.started_at, session.stopped_at, session.energy_wh) == (t0, t2, 10_000)
    assert not session.clock_suspect
    sample = await sync_to_async(MeterSample.objects.get)(session_id=transaction_id)
    assert (sample.timestamp, sample.clock_suspect) == (t1, False)
    connector = session.connector
    await sync_to_async(connector.refresh_from_db)()
    assert (connector.status, connector.status_at) == ("Available", t2)


async def test_start_transaction_far_in_future_gets_server_time_and_is_flagged(charger):
    before = datetime.now(UTC).replace(microsecond=0)
    async with charger("CP-TX-FUTURE") as cp:
        transaction_id = (await send(cp, "StartTransaction", start(1, "F", 0, ago(days=-1))))[
            "transactionId"
        ]
        await send(cp, "StopTransaction", stop(transaction_id, 300, ago(days=-1)))
    session = await sync_to_async(_session)(transaction_id)
    assert session.clock_suspect
    assert before <= session.started_at <= session.stopped_at <= datetime.now(UTC)
    assert session.energy_wh == 300


async def test_start_transaction_on_connector_with_open_session_closes_it_as_superseded(charger):
    t0, t1, t2 = ago(hours=2), ago(hours=1, minutes=30), ago(hours=1)
    async with charger("CP-TX-SUPERSEDE") as cp:
        old_id = (await send(cp, "StartTransaction", start(1, "OLD", 1000, t0)))["transactionId"]
        await send(
            cp,
            "MeterValues",
            {"connectorId": 1, "transactionId": old_id, "meterValue": [energy_reading(t1, 4000)]},
        )
        # The charger never stopped the old one and starts anew on the same connector.
        new_id = (await send(cp, "StartTransaction", start(1, "NEW", 4200, t2)))["transactionId"]
    assert new_id != old_id
    old = await sync_to_async(_session)(old_id)
    assert old.status == ChargingSession.Status.COMPLETED
    assert "superseded" in old.closed_by
    # Closed at the new start, from the last reading the charger gave.
    assert (old.stopped_at, old.meter_stop_wh, old.energy_wh) == (t2, 4000, 3000)
    new = await sync_to_async(_session)(new_id)
    assert new.status == ChargingSession.Status.ACTIVE


async def test_late_stop_of_superseded_session_replaces_the_rules_estimate(charger):
    t0, t1, t2 = ago(hours=2), ago(hours=1), ago(minutes=30)
    async with charger("CP-TX-LATESTOP") as cp:
        old_id = (await send(cp, "StartTransaction", start(1, "A", 0, t0)))["transactionId"]
        await send(cp, "StartTransaction", start(1, "B", 5000, t2))
        await send(cp, "StopTransaction", stop(old_id, 4800, t1))
    old = await sync_to_async(_session)(old_id)
    assert (old.stopped_at, old.energy_wh, old.closed_by) == (t1, 4800, "charger")


@pytest.mark.django_db
def test_a_start_reads_the_connectors_sessions_once():
    """The same start stored before and the session still open on the connector come
    from one query (sessions.open_session), whichever the start turns out to be."""
    handle("CP-TX-ONE-READ", "StartTransaction", start(1, "ONE-READ", 0, ago(hours=1)))

    with CaptureQueriesContext(connection) as queries:
        handle("CP-TX-ONE-READ", "StartTransaction", start(1, "ONE-READ", 900, ago(minutes=1)))

    reads = [q["sql"] for q in queries if q["sql"].startswith('SELECT "stations_chargingsession"')]
    assert len(reads) == 1, reads
    sessions = ChargingSession.objects.filter(charge_point__charge_point_id="CP-TX-ONE-READ")
    assert sorted(sessions.values_list("meter_start_wh", "status")) == [
        (0, ChargingSession.Status.COMPLETED),
        (900, ChargingSession.Status.ACTIVE),
    ]


@pytest.mark.django_db
def test_a_start_stores_its_session_without_a_savepoint_of_its_own():
    """A start that raced in on another connection is skipped by the INSERT (ON CONFLICT
    DO NOTHING), not caught as an error: no savepoint (two round trips) around it."""
    preparing = {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"}
    handle("CP-TX-NO-SAVEPOINT", "StatusNotification", preparing)  # its connector exists

    with CaptureQueriesContext(connection) as queries:
        answer = handle("CP-TX-NO-SAVEPOINT", "StartTransaction", start(1, "NO-SP", 0, ago()))

    savepoints = [q["sql"] for q in queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 1, savepoints  # the call's own (the test runs in a transaction)
    session = ChargingSession.objects.get(charge_point__charge_point_id="CP-TX-NO-SAVEPOINT")
    assert (session.pk, session.status) == (answer["transactionId"], "active")


@pytest.mark.django_db
def test_a_stop_writes_only_what_closing_the_session_changes():
    answer = handle(
        "CP-TX-STOP-COLUMNS", "StartTransaction", start(1, "COLUMNS", 0, ago(minutes=9))
    )

    with CaptureQueriesContext(connection) as queries:
        handle("CP-TX-STOP-COLUMNS", "StopTransaction", stop(answer["transactionId"], 900, ago()))

    updates = [
        q["sql"] for q in queries if q["sql"].startswith('UPDATE "stations_chargingsession"')
    ]
    assert len(updates) == 1, updates
    written = re.findall(r'"(\w+)" = ', updates[0].split(" WHERE ")[0])
    assert sorted(written) == sorted(sessions.CLOSING_FIELDS)
    session = ChargingSession.objects.get(pk=answer["transactionId"])
    assert (session.status, session.energy_wh, session.closed_by) == ("completed", 900, "charger")
