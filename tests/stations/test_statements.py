"""stations/statements.py: a StatusNotification's event and its connector's status, in one
statement on PostgreSQL, in one transaction on SQLite (the tests run on both); a
BootNotification's read and write likewise, and a connect's owner and online history;
batches.waits_for's compiled question answers as the ORM does."""

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from stations import batches, signals
from stations.models import (
    ChargePoint,
    CommandBatch,
    CommandBatchItem,
    ConnectionEvent,
    Connector,
    StatusEvent,
)
from stations.ocpp import connections, v16
from stations.statements import CURRENT_FIELDS, record_boot, record_status
from tests.stations.handling import handle
from tests.stations.ocpp_wire import ago, iso

pytestmark = pytest.mark.django_db


def status(connector_id: int, value: str, when: datetime) -> dict:
    return {
        "connectorId": connector_id,
        "errorCode": "NoError",
        "status": value,
        "timestamp": iso(when),
    }


def event(connector: Connector, value: str, when: datetime) -> StatusEvent:
    return StatusEvent(connector=connector, status=value, timestamp=when, received_at=when)


def current(event: StatusEvent) -> dict:
    return {
        name: getattr(event, "timestamp" if name == "status_at" else name)
        for name in CURRENT_FIELDS
    }


def test_a_status_is_one_statement_on_postgresql_and_one_transaction_on_sqlite():
    handle("CP-STMT-ONE", "StatusNotification", status(1, "Available", ago(minutes=2)))

    with CaptureQueriesContext(connection) as queries:
        handle("CP-STMT-ONE", "StatusNotification", status(1, "Preparing", ago(minutes=1)))

    writes = [q["sql"].split(" (")[0] for q in queries if not q["sql"].startswith("SELECT")]
    if connection.vendor == "postgresql":
        assert writes == ["WITH event AS"], writes
    else:
        assert [w.split()[0] for w in writes] == ["SAVEPOINT", "INSERT", "UPDATE", "RELEASE"]
    assert Connector.objects.get(charge_point__charge_point_id="CP-STMT-ONE").status == "Preparing"


def test_an_event_is_stored_and_its_connector_written_only_when_it_is_the_newest():
    charge_point = ChargePoint.objects.create(charge_point_id="CP-STMT-NEWEST")
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    charging = event(connector, "Charging", ago(minutes=5))
    late = event(connector, "Faulted", ago(minutes=10))
    same_time = event(connector, "SuspendedEV", charging.timestamp)

    assert record_status(charging, current(charging)) is True
    assert record_status(late, current(late)) is False
    assert record_status(same_time, current(same_time)) is True

    stored = StatusEvent.objects.order_by("pk").values_list("pk", "status")
    assert list(stored) == [
        (charging.pk, "Charging"),
        (late.pk, "Faulted"),
        (same_time.pk, "SuspendedEV"),
    ]
    connector.refresh_from_db()
    assert (connector.status, connector.status_at) == ("SuspendedEV", charging.timestamp)


def test_the_listeners_hear_of_the_stored_event_and_the_change(django_capture_on_commit_callbacks):
    handle("CP-STMT-HEARD", "StatusNotification", status(2, "Available", ago(minutes=2)))
    heard = []

    def changed(connector: Connector, previous_status: str, **kwargs: object) -> None:
        heard.append(("changed", connector.status, previous_status))

    def received(connector: Connector, event: StatusEvent, previous_status: str, **kwargs) -> None:
        stored = StatusEvent.objects.get(pk=event.pk)
        heard.append(
            ("received", stored.status, event.connector_id == connector.pk, previous_status)
        )

    signals.connector_status_changed.connect(changed, dispatch_uid="test.statements.changed")
    signals.status_notification_received.connect(received, dispatch_uid="test.statements.received")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            handle("CP-STMT-HEARD", "StatusNotification", status(2, "Faulted", ago(minutes=1)))
            handle("CP-STMT-HEARD", "StatusNotification", status(2, "Charging", ago(minutes=3)))
    finally:
        signals.connector_status_changed.disconnect(dispatch_uid="test.statements.changed")
        signals.status_notification_received.disconnect(dispatch_uid="test.statements.received")

    assert heard == [
        ("changed", "Faulted", "Available"),
        ("received", "Faulted", True, "Available"),
        ("received", "Charging", True, "Faulted"),  # late: history only, no change
    ]


def test_a_batch_waits_for_a_charger_with_an_item_offline_as_the_orm_finds_it():
    # batches.waits_for's first question runs its SQL built once (OFFLINE_ITEM): its answer for each
    # item status and charger must be the ORM's.
    waiting, other = (ChargePoint.objects.create(charge_point_id=f"CP-WAIT-{n}") for n in (1, 2))
    batch = CommandBatch.objects.create(
        operation="change_configuration", title="HeartbeatInterval", arguments=[]
    )
    item = CommandBatchItem.objects.create(batch=batch, charge_point=waiting)
    for status in CommandBatchItem.Status.values:
        CommandBatchItem.objects.filter(pk=item.pk).update(status=status)
        for charge_point in (waiting, other):
            offline = CommandBatchItem.objects.filter(
                charge_point=charge_point, status=CommandBatchItem.Status.OFFLINE
            )
            assert batches.waits_for(charge_point) == offline.exists()


BOOT = {"chargePointVendor": "Vendor", "chargePointModel": "Model-1", "firmwareVersion": "1.2"}


@pytest.mark.parametrize("registration", ChargePoint.Registration.values)
def test_a_boot_reads_the_registration_and_writes_the_boot_in_one_statement_on_postgresql(
    registration, settings, django_capture_on_commit_callbacks
):
    settings.OCPP_HEARTBEAT_INTERVAL, settings.OCPP_PENDING_RETRY_INTERVAL = 123, 45
    earlier = ago(hours=3)
    charge_point = ChargePoint.objects.create(
        charge_point_id="CP-STMT-BOOT",
        registration_status=registration,
        last_boot_at=earlier,
        heartbeat_interval=600,
    )
    heard = []
    signals.charge_point_booted.connect(lambda **kw: heard.append(kw), weak=False, dispatch_uid="t")
    try:
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            answer = v16.handle(charge_point, "BootNotification", BOOT, ago(minutes=1))
    finally:
        signals.charge_point_booted.disconnect(dispatch_uid="t")
    mine = [q["sql"].split()[0] for q in queries if "last_boot_at" in q["sql"]]
    if connection.vendor == "postgresql":
        assert mine == ["UPDATE"], mine
    else:
        assert mine == ["SELECT", "UPDATE"], mine
    stored = ChargePoint.objects.get(charge_point_id="CP-STMT-BOOT")
    assert answer["status"] == stored.registration_status == registration
    assert answer["interval"] == (123 if registration == "Accepted" else 45)
    assert stored.heartbeat_interval == (123 if registration == "Accepted" else 600)
    assert (stored.vendor, stored.model, stored.firmware_version) == ("Vendor", "Model-1", "1.2")
    assert stored.last_boot_at > earlier
    if registration == "Accepted":
        assert [kw["previous_boot_at"] for kw in heard] == [earlier]
    else:
        assert heard == []


def test_a_boot_of_a_charger_deleted_meanwhile_fails_as_the_orm_did():
    gone = ChargePoint.objects.create(charge_point_id="CP-STMT-GONE")
    pk = gone.pk
    gone.delete()
    with pytest.raises(ChargePoint.DoesNotExist):
        record_boot(pk, {"vendor": "V", "last_boot_at": ago(minutes=1)}, 300)


def _heard_connects() -> list:
    heard: list = []
    signals.charge_point_connected.connect(
        lambda **kw: heard.append((kw["charge_point"].charge_point_id, kw["at"])),
        weak=False,
        dispatch_uid="test.statements.connected",
    )
    return heard


def test_a_connect_writes_its_owner_and_its_history_in_one_statement_on_postgresql(
    django_capture_on_commit_callbacks,
):
    charge_point = ChargePoint.objects.create(charge_point_id="CP-STMT-CONNECT")
    heard = _heard_connects()
    taken, times = [], []
    try:
        with django_capture_on_commit_callbacks(execute=True):
            # From no connection (never connected), from another one, from a closed one.
            for connection_id in ("first", "second", None, "third"):
                if connection_id is None:
                    connections.mark_disconnected("CP-STMT-CONNECT", "second")
                    continue
                with CaptureQueriesContext(connection) as queries:
                    alone = connections.mark_connected(charge_point, connection_id, "ocpp1.6")
                taken.append(alone)
                stored = ChargePoint.objects.get(pk=charge_point.pk)
                assert (stored.is_connected, stored.connection_id) == (True, connection_id)
                assert stored.protocol == "ocpp1.6"
                assert stored.connected_at == stored.last_seen_at
                times.append(stored.connected_at)
                writes = [q["sql"].split()[0] for q in queries]
                if connection.vendor == "postgresql":
                    assert writes == ["WITH"], writes
                else:
                    assert writes == ["UPDATE"] * (1 if alone else 2) + ["INSERT"], writes
    finally:
        signals.charge_point_connected.disconnect(dispatch_uid="test.statements.connected")

    assert taken == [True, False, True]
    history = ConnectionEvent.objects.filter(charge_point=charge_point).order_by("at", "pk")
    assert [(event.kind, event.at) for event in history] == [
        ("connected", times[0]),
        ("connected", times[1]),
        ("disconnected", history[2].at),
        ("connected", times[2]),
    ]
    assert heard == [("CP-STMT-CONNECT", at) for at in times]
