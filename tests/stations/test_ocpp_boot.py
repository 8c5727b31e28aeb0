from datetime import UTC, datetime, timedelta

from asgiref.sync import sync_to_async
from ocpp.v16 import call

from stations.models import ChargePoint, OcppMessage
from tests.conftest import eventually
from tests.stations.ocpp_wire import send


async def test_boot_notification_of_registered_charger_is_accepted(charger):
    async with charger("CP-BOOT-1") as cp:
        answer = await cp.boot(charge_point_serial_number="SN-1", firmware_version="1.2.3")
    assert answer.status == "Accepted"
    assert answer.interval == 60
    assert answer.current_time.endswith("Z")
    stored = await sync_to_async(ChargePoint.objects.get)(charge_point_id="CP-BOOT-1")
    assert (stored.vendor, stored.model, stored.serial_number, stored.firmware_version) == (
        "ChargeHub",
        "Sim-22",
        "SN-1",
        "1.2.3",
    )
    assert stored.last_boot_at is not None


async def test_boot_notification_stores_every_field_the_charger_reports(charger):
    async with charger("CP-BOOT-ALL") as cp:
        answer = await send(
            cp,
            "BootNotification",
            {
                "chargePointVendor": "Vendor-20-characters",
                "chargePointModel": "Model-X",
                "chargePointSerialNumber": "CPSN-1",
                "chargeBoxSerialNumber": "CBSN-1",
                "firmwareVersion": "4.5.6",
                "iccid": "8946000000000000001",
                "imsi": "240010000000001",
                "meterType": "Meter-T",
                "meterSerialNumber": "MSN-1",
            },
        )
    assert answer["status"] == "Accepted"
    assert answer["interval"] == 60
    stored = await sync_to_async(ChargePoint.objects.get)(charge_point_id="CP-BOOT-ALL")
    assert (
        stored.vendor,
        stored.model,
        stored.serial_number,
        stored.charge_box_serial_number,
        stored.firmware_version,
        stored.iccid,
        stored.imsi,
        stored.meter_type,
        stored.meter_serial_number,
        stored.heartbeat_interval,
    ) == (
        "Vendor-20-characters",
        "Model-X",
        "CPSN-1",
        "CBSN-1",
        "4.5.6",
        "8946000000000000001",
        "240010000000001",
        "Meter-T",
        "MSN-1",
        60,
    )


async def test_boot_notification_answer_carries_server_time_in_utc(charger):
    async with charger("CP-BOOT-TIME") as cp:
        before = datetime.now(UTC)
        answer = await send(
            cp, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
        )
    assert answer["currentTime"].endswith("Z")
    assert datetime.fromisoformat(answer["currentTime"]) >= before - timedelta(seconds=1)


async def test_heartbeat_is_answered_with_current_time_in_utc_with_z(charger):
    async with charger("CP-BOOT-HB") as cp:
        before = datetime.now(UTC)
        answer = await send(cp, "Heartbeat", {})
        through_package = await cp.call(call.Heartbeat())
    assert answer["currentTime"].endswith("Z")
    assert datetime.fromisoformat(answer["currentTime"]) >= before - timedelta(seconds=1)
    assert through_package.current_time.endswith("Z")


async def test_message_log_keeps_both_directions(charger):
    async with charger("CP-BOOT-LOG") as cp:
        await cp.boot()
        await send(cp, "Heartbeat", {})

    def logged() -> set[tuple[str, int, str]]:
        return set(
            OcppMessage.objects.filter(charge_point_id="CP-BOOT-LOG").values_list(
                "direction", "message_type", "action"
            )
        )

    expected = {
        ("in", 2, "BootNotification"),
        ("out", 3, "BootNotification"),
        ("in", 2, "Heartbeat"),
        ("out", 3, "Heartbeat"),
    }
    assert await eventually(lambda: expected <= logged())
