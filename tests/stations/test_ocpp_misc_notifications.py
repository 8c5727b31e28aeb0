"""DataTransfer (OCPP 1.6 §4.3), DiagnosticsStatusNotification (§4.4) and
FirmwareStatusNotification (§4.5) from the charger; the whitepaper's
LogStatusNotification and SignedFirmwareStatusNotification."""

from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async

from stations.models import (
    ChargePoint,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    OcppMessage,
    SecurityEvent,
)
from tests.conftest import eventually
from tests.stations.handling import handle
from tests.stations.ocpp_wire import send, send_expecting_error


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


@pytest.mark.django_db
def test_every_firmware_status_is_kept_in_the_history_not_only_the_latest():
    sequence = ["Downloading", "DownloadFailed", "Downloading", "Downloaded", "Installing"]
    for status in sequence:
        handle("CP-MISC-FW-HIST", "FirmwareStatusNotification", {"status": status})
    handle(
        "CP-MISC-FW-HIST",
        "SignedFirmwareStatusNotification",
        {"status": "Installed", "requestId": 7},
    )
    kept = FirmwareStatusEvent.objects.filter(charge_point__charge_point_id="CP-MISC-FW-HIST")
    assert [e.status for e in kept.order_by("id")] == [*sequence, "Installed"]
    assert kept.order_by("id").last().request_id == 7
    assert _get("CP-MISC-FW-HIST").firmware_status == "Installed"


@pytest.mark.django_db
def test_diagnostics_and_log_statuses_are_kept_in_the_history():
    handle("CP-MISC-DIAG-HIST", "DiagnosticsStatusNotification", {"status": "Uploading"})
    handle("CP-MISC-DIAG-HIST", "DiagnosticsStatusNotification", {"status": "Uploaded"})
    handle("CP-MISC-DIAG-HIST", "LogStatusNotification", {"status": "Uploading", "requestId": 3})
    handle(
        "CP-MISC-DIAG-HIST", "LogStatusNotification", {"status": "UploadFailure", "requestId": 3}
    )
    kept = DiagnosticsStatusEvent.objects.filter(
        charge_point__charge_point_id="CP-MISC-DIAG-HIST"
    ).order_by("id")
    assert [(e.kind, e.status, e.request_id) for e in kept] == [
        ("diagnostics", "Uploading", None),
        ("diagnostics", "Uploaded", None),
        ("log", "Uploading", 3),
        ("log", "UploadFailure", 3),
    ]
    assert _get("CP-MISC-DIAG-HIST").diagnostics_status == "UploadFailure"


# The security events of the whitepaper (edition 3, Appendix 1), and one of a vendor's own.
SECURITY_EVENTS = [
    "FirmwareUpdated",
    "FailedToAuthenticateAtCentralSystem",
    "CentralSystemFailedToAuthenticate",
    "SettingSystemTime",
    "StartupOfTheDevice",
    "ResetOrReboot",
    "SecurityLogWasCleared",
    "ReconfigurationOfSecurityParameters",
    "MemoryExhaustion",
    "InvalidMessages",
    "AttemptedReplayAttacks",
    "TamperDetectionActivated",
    "InvalidFirmwareSignature",
    "InvalidFirmwareSigningCertificate",
    "InvalidCentralSystemCertificate",
    "InvalidChargePointCertificate",
    "InvalidTLSVersion",
    "InvalidTLSCipherSuite",
    "com.example.LidOpened",
]


async def test_security_event_notification_is_answered_and_stored(charger):
    """Security whitepaper ed. 3 §2.5: every event is kept, with the charger's words,
    each one of the whitepaper's list and any other type a charger sends."""
    async with charger("CP-MISC-SEC") as cp:
        for number, event_type in enumerate(SECURITY_EVENTS):
            payload = {
                "type": event_type,
                "timestamp": f"2026-12-01T10:{number:02d}:00Z",
                "techInfo": f"info {number}",
            }
            assert await send(cp, "SecurityEventNotification", payload) == {}
    events = await sync_to_async(list)(
        SecurityEvent.objects.filter(charge_point__charge_point_id="CP-MISC-SEC").order_by(
            "timestamp"
        )
    )
    assert [(e.type, e.tech_info) for e in events] == [
        (event_type, f"info {number}") for number, event_type in enumerate(SECURITY_EVENTS)
    ]
    assert events[0].timestamp == datetime(2026, 12, 1, 10, tzinfo=UTC)


async def test_security_event_notification_without_a_type_is_refused_and_not_stored(charger):
    async with charger("CP-MISC-SEC-BAD") as cp:
        payload = {"timestamp": "2026-12-01T10:00:00Z"}
        await send_expecting_error(cp, "SecurityEventNotification", payload, "ProtocolError")
    stored = SecurityEvent.objects.filter(charge_point__charge_point_id="CP-MISC-SEC-BAD")
    assert not await sync_to_async(stored.exists)()
