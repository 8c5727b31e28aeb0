"""The statements of a charger's busiest calls (#17): a sign of life is one UPDATE returning
the row, a stop by the driver who started reads no token of its own, and the MeterValues
after a start read no session. On SQLite and PostgreSQL (the tests run on both)."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from stations.models import ChargePoint, ChargingSession, ConnectionEvent, MeterSample
from stations.ocpp import connections, v16
from tests.stations.ocpp_wire import iso
from users.models import IdToken

pytestmark = pytest.mark.django_db


def statements(queries: CaptureQueriesContext) -> list[str]:
    """Each statement's verb and table, e.g. "UPDATE stations_chargepoint" (savepoints
    left out)."""
    found = []
    for query in queries:
        sql = query["sql"].replace('"', "")
        verb = sql.split()[0]
        if verb in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
            found.append(f"{verb} {re.search(r'(?:FROM|INTO|UPDATE) (\w+)', sql)[1]}")
    return found


def connected(charge_point_id: str, connection_id: str) -> ChargePoint:
    return ChargePoint.objects.create(
        charge_point_id=charge_point_id,
        connection_id=connection_id,
        is_connected=True,
        last_seen_at=timezone.now() - timedelta(seconds=40),
    )


def test_a_sign_of_life_is_one_update_answering_the_charge_point_as_stored():
    charge_point = connected("CP-SEEN-ONE", "conn-1")
    ChargePoint.objects.filter(pk=charge_point.pk).update(configuration={"HeartbeatInterval": "60"})
    now = timezone.now()

    with CaptureQueriesContext(connection) as queries:
        seen = connections.mark_seen("CP-SEEN-ONE", "conn-1", now)

    assert statements(queries) == ["UPDATE stations_chargepoint"]
    assert seen is not None
    assert (seen.pk, seen.configuration, seen.last_seen_at, seen.is_connected) == (
        charge_point.pk,
        {"HeartbeatInterval": "60"},
        now,
        True,
    )
    assert ChargePoint.objects.get(pk=charge_point.pk).last_seen_at == now
    assert connections.mark_seen("CP-SEEN-ONE", "another connection", now) is None


def test_a_charger_speaking_again_after_liveness_is_back_in_two_writes_and_its_history():
    charge_point = connected("CP-SEEN-BACK", "conn-1")
    ChargePoint.objects.filter(pk=charge_point.pk).update(is_connected=False)
    now = timezone.now()

    with CaptureQueriesContext(connection) as queries:
        seen = connections.mark_seen("CP-SEEN-BACK", "conn-1", now)

    assert statements(queries) == [
        "UPDATE stations_chargepoint",  # not connected: no row
        "UPDATE stations_chargepoint",  # connected again, the row returned
        "INSERT stations_connectionevent",
    ]
    assert seen is not None and (seen.is_connected, seen.last_seen_at) == (True, now)
    events = ConnectionEvent.objects.filter(charge_point=charge_point)
    assert list(events.values_list("kind", "at")) == [("connected", now)]


def start_payload(connector_id: int, id_tag: str) -> dict:
    return {
        "connectorId": connector_id,
        "idTag": id_tag,
        "meterStart": 1000,
        "timestamp": iso(timezone.now()),
    }


def stop_payload(transaction_id: int, id_tag: str) -> dict:
    return {
        "transactionId": transaction_id,
        "idTag": id_tag,
        "meterStop": 1500,
        "timestamp": iso(timezone.now()),
    }


def stopped(charge_point: ChargePoint, transaction_id: int, id_tag: str) -> tuple[dict, int]:
    """The answer to a StopTransaction by `id_tag`, and how many token reads it took."""
    with CaptureQueriesContext(connection) as queries:
        answer = v16.handle(
            charge_point, "StopTransaction", stop_payload(transaction_id, id_tag), timezone.now()
        )
    return answer, sum(query["sql"].startswith('SELECT "users_idtoken"') for query in queries)


def test_a_stop_by_the_driver_who_started_reads_the_token_with_its_session_only():
    IdToken.objects.create(uid="DRIVER-1", group_id="FLEET")
    IdToken.objects.create(uid="STAFF-CARD", status=IdToken.Status.BLOCKED)
    charge_point = ChargePoint.objects.create(charge_point_id="CP-STOP-TOKEN")
    first, second = (
        v16.handle(
            charge_point, "StartTransaction", start_payload(connector, "driver-1"), timezone.now()
        )
        for connector in (1, 2)
    )
    again = ChargePoint.objects.get(pk=charge_point.pk)  # a stop after a reconnect

    by_driver = stopped(again, first["transactionId"], "Driver-1")
    by_staff = stopped(again, second["transactionId"], "STAFF-CARD")
    by_driver_unknown = stopped(again, 999999, "DRIVER-1")

    assert by_driver == ({"idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}}, 0)
    assert by_staff == ({"idTagInfo": {"status": "Blocked"}}, 1)
    assert by_driver_unknown == ({"idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}}, 1)
    closed = ChargingSession.objects.order_by("pk").values_list(
        "status", "stop_id_tag", "energy_wh"
    )
    assert list(closed) == [("completed", "DRIVER-1", 500), ("completed", "STAFF-CARD", 500)]


def test_the_meter_values_after_a_start_read_no_session():
    IdToken.objects.create(uid="DRIVER-1")
    charge_point = ChargePoint.objects.create(charge_point_id="CP-METER-KEPT")
    started = v16.handle(
        charge_point, "StartTransaction", start_payload(1, "DRIVER-1"), timezone.now()
    )
    meter_values = {
        "connectorId": 1,
        "transactionId": started["transactionId"],
        "meterValue": [{"timestamp": iso(timezone.now()), "sampledValue": [{"value": "1200"}]}],
    }

    with CaptureQueriesContext(connection) as queries:
        v16.handle(charge_point, "MeterValues", meter_values, timezone.now())

    assert [kind for kind in statements(queries) if kind.startswith("SELECT")] == []
    stored = MeterSample.objects.filter(session_id=started["transactionId"])
    assert list(stored.values_list("value", flat=True)) == ["1200"]
