"""A connected charger's rows, kept by its consumer between calls (ChargePoint.connectors_by_id,
sessions_by_id, consumer.SEEN_WRITE_INTERVAL): what staff change in admin is never undone
by a charger's call, and reaches the charger's calls in time."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from stations.models import ChargePoint, ChargingSession, Connector, MeterSample
from stations.ocpp import v16
from stations.signals import meter_values_received
from tests.charger import now
from users.models import User


@pytest.fixture
def admin_client(db_access: None) -> Client:
    user = User.objects.create_superuser(email="rows@example.com", password="x" * 20)
    client = Client()
    client.force_login(user)
    return client


def change_in_admin(client: Client, charge_point_id: str, **changes: Any) -> None:
    """Save the charge point's admin page with `changes` (connectors as they are, unless
    `connectors` lists the inline rows to post)."""
    charge_point = ChargePoint.objects.get(charge_point_id=charge_point_id)
    connectors = changes.pop("connectors", [])
    form = {
        "charge_point_id": charge_point.charge_point_id,
        "registration_status": charge_point.registration_status,
        "heartbeat_interval": charge_point.heartbeat_interval,
        "phases": charge_point.phases,
        "first_phase": charge_point.first_phase,
        "security_profile": charge_point.security_profile,
        "new_password": "",
        "connectors-TOTAL_FORMS": len(connectors),
        "connectors-INITIAL_FORMS": len(connectors),
        **changes,
    }
    for index, row in enumerate(connectors):
        form.update({f"connectors-{index}-{name}": value for name, value in row.items()})
    change = reverse("admin:stations_chargepoint_change", args=[charge_point.pk])
    response = client.post(change, form)
    assert response.status_code == 302, response.content.decode()[:2000]


def connector_row(connector: Connector, **changes: Any) -> dict[str, Any]:
    return {
        "id": connector.pk,
        "charge_point": connector.charge_point_id,
        "connector_id": connector.connector_id,
        "connector_type": connector.connector_type,
        "max_power_kw": connector.max_power_kw,
        **changes,
    }


def status(connector_id: int, value: str) -> list[Any]:
    payload = {"connectorId": connector_id, "errorCode": "NoError", "status": value}
    return [2, f"{connector_id}-{value}", "StatusNotification", {**payload, "timestamp": now()}]


async def test_a_charger_rejected_in_admin_is_refused_once_its_consumer_reads_it_again(
    charger, admin_client
):
    # heartbeat interval 4 s: the consumer reads its row again every second (a quarter).
    async with charger("CP-ROWS-REJECT", heartbeat_interval=4) as cp:
        assert (await cp.raw([2, "1", "Heartbeat", {}]))[0] == 3

        await sync_to_async(change_in_admin)(
            admin_client, "CP-ROWS-REJECT", registration_status="Rejected"
        )

        # Refused from the first call after the consumer read the row again (before this
        # change the consumer kept the row it read at connection time: never refused).
        deadline = time.monotonic() + 10
        while (answer := await cp.raw([2, "2", "Heartbeat", {}]))[0] == 3:
            assert time.monotonic() < deadline, "still served 10 s after it was rejected"
            await asyncio.sleep(0.1)
        assert answer[2] == "SecurityError"


async def test_a_connector_edited_in_admin_keeps_the_edit_through_the_chargers_statuses(
    charger, admin_client
):
    async with charger("CP-ROWS-EDIT") as cp:
        assert (await cp.raw(status(1, "Available")))[0] == 3  # the consumer holds it now
        connector = await sync_to_async(Connector.objects.get)(
            charge_point__charge_point_id="CP-ROWS-EDIT", connector_id=1
        )
        await sync_to_async(change_in_admin)(
            admin_client,
            "CP-ROWS-EDIT",
            connectors=[connector_row(connector, connector_type="CCS2", max_power_kw="50.00")],
        )

        assert (await cp.raw(status(1, "Preparing")))[0] == 3

    stored = await sync_to_async(Connector.objects.get)(pk=connector.pk)
    assert (stored.status, stored.connector_type, str(stored.max_power_kw)) == (
        "Preparing",
        "CCS2",
        "50.00",
    )


async def test_a_connector_deleted_in_admin_comes_back_with_the_chargers_next_status(
    charger, admin_client
):
    async with charger("CP-ROWS-DELETE") as cp:
        assert (await cp.raw(status(2, "Available")))[0] == 3  # the consumer holds it now
        connector = await sync_to_async(Connector.objects.get)(
            charge_point__charge_point_id="CP-ROWS-DELETE", connector_id=2
        )
        await sync_to_async(change_in_admin)(
            admin_client, "CP-ROWS-DELETE", connectors=[connector_row(connector, DELETE="on")]
        )
        assert not await sync_to_async(Connector.objects.filter(pk=connector.pk).exists)()

        assert (await cp.raw(status(2, "Faulted")))[:3] == [3, "2-Faulted", {}]

    again = await sync_to_async(Connector.objects.get)(
        charge_point__charge_point_id="CP-ROWS-DELETE", connector_id=2
    )
    assert again.status == "Faulted"


@pytest.mark.django_db
def test_a_call_that_fails_after_creating_a_connector_leaves_no_connector_in_the_cache():
    # The handler directly: a charger cannot send this timestamp (the schema refuses it),
    # so it stands for any failure after the connector was created, which rolls it back
    # (a StartTransaction runs in a transaction; a StatusNotification's connector stands
    # alone, as a MeterValues' does).
    charge_point = ChargePoint.objects.create(charge_point_id="CP-ROWS-ROLLBACK")
    failing = {"connectorId": 2, "idTag": "TAG-ROWS", "meterStart": 0, "timestamp": "x"}
    with pytest.raises(ValueError):
        v16.handle(charge_point, "StartTransaction", failing, timezone.now())
    assert not Connector.objects.filter(charge_point=charge_point, connector_id=2).exists()

    sample = {"timestamp": now(), "sampledValue": [{"value": "10"}]}
    v16.handle(
        charge_point, "MeterValues", {"connectorId": 2, "meterValue": [sample]}, timezone.now()
    )

    assert Connector.objects.filter(charge_point=charge_point, connector_id=2).exists()


def start(charge_point: ChargePoint, meter_start: int) -> int:
    """A StartTransaction on connector 1; its transactionId."""
    payload = {"connectorId": 1, "idTag": "TAG-ROWS", "meterStart": meter_start, "timestamp": now()}
    return v16.handle(charge_point, "StartTransaction", payload, timezone.now())["transactionId"]


def values(charge_point: ChargePoint, transaction_id: int, wh: int) -> None:
    """A MeterValues of the session: `wh` read `wh` ms ago (each its own sample)."""
    moment = datetime.now(UTC) - timedelta(milliseconds=wh)
    timestamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sample = {"timestamp": timestamp, "sampledValue": [{"value": str(wh)}]}
    payload = {"connectorId": 1, "transactionId": transaction_id, "meterValue": [sample]}
    assert v16.handle(charge_point, "MeterValues", payload, timezone.now()) == {}


@pytest.mark.django_db
def test_a_chargers_meter_values_read_their_session_once():
    charge_point = ChargePoint.objects.create(charge_point_id="CP-ROWS-SESSION")
    transaction_id = start(charge_point, 0)
    values(charge_point, transaction_id, 100)

    with CaptureQueriesContext(connection) as queries:
        values(charge_point, transaction_id, 200)

    assert [q["sql"] for q in queries if "stations_chargingsession" in q["sql"]] == []
    stored = MeterSample.objects.filter(session_id=transaction_id)
    assert sorted(stored.values_list("value", flat=True)) == ["100", "200"]


@pytest.mark.django_db
def test_meter_values_of_a_session_a_new_start_superseded_tell_the_listeners_it_is_over(
    django_capture_on_commit_callbacks,
):
    charge_point = ChargePoint.objects.create(charge_point_id="CP-ROWS-SUPERSEDED")
    first = start(charge_point, 0)
    values(charge_point, first, 100)  # the consumer holds the session now
    start(charge_point, 500)  # its charger never stopped it: closed by the new start
    heard: list[str] = []

    def listener(session: ChargingSession, **kwargs: object) -> None:
        heard.append(session.status)

    meter_values_received.connect(listener, dispatch_uid="test.superseded")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            values(charge_point, first, 150)  # a late one of the old session
    finally:
        meter_values_received.disconnect(dispatch_uid="test.superseded")

    assert heard == [ChargingSession.Status.COMPLETED]


@pytest.mark.django_db(transaction=True)
def test_a_session_deleted_while_its_charger_charges_loses_none_of_the_next_samples():
    charge_point = ChargePoint.objects.create(charge_point_id="CP-ROWS-SESSION-GONE")
    transaction_id = start(charge_point, 0)
    values(charge_point, transaction_id, 100)  # the consumer holds the session now
    ChargingSession.objects.filter(pk=transaction_id).delete()  # as staff would in admin

    values(charge_point, transaction_id, 200)

    stored = MeterSample.objects.filter(charge_point=charge_point)
    assert list(stored.values_list("value", "session_id")) == [("200", None)]
