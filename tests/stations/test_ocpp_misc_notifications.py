"""DataTransfer (OCPP 1.6 §4.3), DiagnosticsStatusNotification (§4.4) and
FirmwareStatusNotification (§4.5) from the charger."""

from datetime import UTC, datetime

import pytest

from stations.models import ChargePoint, OcppMessage
from tests.conftest import eventually
from tests.stations.handling import handle
from tests.stations.ocpp_wire import send


def _get(charge_point_id: str) -> ChargePoint:
    return ChargePoint.objects.get(charge_point_id=charge_point_id)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"vendorId": "com.example"}, id="vendor-only"),
        pytest.param(
            {"vendorId": "com.example", "messageId": "Tariff", "data": '{"x": 1}'},
            id="with-message-and-data",
        ),
    ],
)
async def test_data_transfer_is_answered_unknown_vendor_id_and_logged(charger, payload):
    async with charger("CP-MISC-DT") as cp:
        assert await send(cp, "DataTransfer", payload) == {"status": "UnknownVendorId"}

    def logged() -> bool:
        return OcppMessage.objects.filter(
            charge_point_id="CP-MISC-DT", direction="in", action="DataTransfer"
        ).exists()

    assert await eventually(logged)


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["Idle", "Uploading", "Uploaded", "UploadFailed"])
def test_diagnostics_status_notification_is_stored_on_the_charge_point(status):
    before = datetime.now(UTC)
    assert handle("CP-MISC-DIAG", "DiagnosticsStatusNotification", {"status": status}) == {}
    stored = _get("CP-MISC-DIAG")
    assert stored.diagnostics_status == status
    assert stored.diagnostics_status_at >= before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "status",
    [
        "Downloaded",
        "DownloadFailed",
        "Downloading",
        "Idle",
        "InstallationFailed",
        "Installing",
        "Installed",
    ],
)
def test_firmware_status_notification_is_stored_on_the_charge_point(status):
    before = datetime.now(UTC)
    assert handle("CP-MISC-FW", "FirmwareStatusNotification", {"status": status}) == {}
    stored = _get("CP-MISC-FW")
    assert stored.firmware_status == status
    assert stored.firmware_status_at >= before


@pytest.mark.django_db
def test_latest_firmware_status_wins():
    for status in ("Downloading", "Downloaded", "Installing", "Installed"):
        handle("CP-MISC-FW-SEQ", "FirmwareStatusNotification", {"status": status})
    assert _get("CP-MISC-FW-SEQ").firmware_status == "Installed"
