"""The statements of a charger's busiest calls (#17): a sign of life is one UPDATE returning
the row. On SQLite and PostgreSQL (the tests run on both)."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from stations.models import ChargePoint, ConnectionEvent
from stations.ocpp import connections

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
