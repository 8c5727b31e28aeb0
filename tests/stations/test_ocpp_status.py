"""StatusNotification (OCPP 1.6 §4.9): history, current status, connector 0, late arrivals."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from stations.models import Connector, StatusEvent
from tests.stations.handling import handle
from tests.stations.ocpp_wire import ago, iso

pytestmark = pytest.mark.django_db


def _connector(charge_point_id: str, connector_id: int) -> Connector:
    return Connector.objects.get(
        charge_point__charge_point_id=charge_point_id, connector_id=connector_id
    )


def _history(charge_point_id: str, connector_id: int) -> list[tuple[str, datetime, bool]]:
    return list(
        StatusEvent.objects.filter(
            connector__charge_point__charge_point_id=charge_point_id,
            connector__connector_id=connector_id,
        )
        .order_by("timestamp")
        .values_list("status", "timestamp", "clock_suspect")
    )


def status(connector_id: int, value: str, when: datetime | None = None, **extra: str) -> dict:
    payload = {"connectorId": connector_id, "errorCode": "NoError", "status": value, **extra}
    if when is not None:
        payload["timestamp"] = iso(when)
    return payload


def test_status_notification_sets_connector_status_and_is_kept_in_history():
    first, second = ago(minutes=2), ago(minutes=1)
    assert handle("CP-ST-HIST", "StatusNotification", status(1, "Available", first)) == {}
    assert handle("CP-ST-HIST", "StatusNotification", status(1, "Preparing", second)) == {}
    connector = _connector("CP-ST-HIST", 1)
    assert (connector.status, connector.status_at) == ("Preparing", second)
    assert _history("CP-ST-HIST", 1) == [
        ("Available", first, False),
        ("Preparing", second, False),
    ]


def test_status_notification_for_connector_0_is_the_charge_point_as_a_whole():
    handle("CP-ST-ZERO", "StatusNotification", status(0, "Unavailable", ago(seconds=5)))
    handle("CP-ST-ZERO", "StatusNotification", status(1, "Available", ago(seconds=5)))
    assert _connector("CP-ST-ZERO", 0).status == "Unavailable"
    assert _connector("CP-ST-ZERO", 1).status == "Available"


def test_older_status_arriving_late_goes_to_history_without_overwriting_current():
    newer, older = ago(minutes=1), ago(minutes=10)
    handle("CP-ST-LATE", "StatusNotification", status(1, "Charging", newer))
    handle(
        "CP-ST-LATE", "StatusNotification", status(1, "Faulted", older, errorCode="GroundFailure")
    )
    connector = _connector("CP-ST-LATE", 1)
    assert (connector.status, connector.error_code, connector.status_at) == (
        "Charging",
        "NoError",
        newer,
    )
    assert [row[0] for row in _history("CP-ST-LATE", 1)] == [
        "Faulted",
        "Charging",
    ]


def test_status_notification_stores_error_code_info_and_vendor_fields():
    handle(
        "CP-ST-ERR",
        "StatusNotification",
        status(
            2,
            "Faulted",
            ago(seconds=1),
            errorCode="OtherError",
            info="contactor welded",
            vendorId="com.example",
            vendorErrorCode="E-042",
        ),
    )
    connector = _connector("CP-ST-ERR", 2)
    assert (
        connector.status,
        connector.error_code,
        connector.info,
        connector.vendor_id,
        connector.vendor_error_code,
    ) == ("Faulted", "OtherError", "contactor welded", "com.example", "E-042")
    event = StatusEvent.objects.get(connector__charge_point__charge_point_id="CP-ST-ERR")
    assert (event.error_code, event.info, event.vendor_id, event.vendor_error_code) == (
        "OtherError",
        "contactor welded",
        "com.example",
        "E-042",
    )


def test_status_notification_without_timestamp_takes_server_time():
    before = datetime.now(UTC)
    handle("CP-ST-NOTIME", "StatusNotification", status(1, "Available"))
    connector = _connector("CP-ST-NOTIME", 1)
    assert connector.status_at >= before.replace(microsecond=0)


def test_status_timestamp_without_utc_offset_is_taken_as_utc():
    moment = ago(minutes=3)
    payload = status(1, "Available")
    payload["timestamp"] = moment.replace(tzinfo=None).isoformat()
    handle("CP-ST-NAIVE", "StatusNotification", payload)
    assert _connector("CP-ST-NAIVE", 1).status_at == moment


def test_status_timestamp_with_other_offset_is_stored_as_the_same_instant():
    moment = ago(hours=1)
    payload = status(1, "Available")
    payload["timestamp"] = moment.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert payload["timestamp"].endswith("+02:00")
    handle("CP-ST-OFFSET", "StatusNotification", payload)
    assert _connector("CP-ST-OFFSET", 1).status_at == moment


def test_status_timestamp_far_in_future_is_replaced_by_server_time_and_flagged():
    before = datetime.now(UTC).replace(microsecond=0)
    handle("CP-ST-FUTURE", "StatusNotification", status(1, "Available", ago(days=-2)))
    [(_, stored_at, suspect)] = _history("CP-ST-FUTURE", 1)
    assert suspect
    assert before <= stored_at <= datetime.now(UTC)
