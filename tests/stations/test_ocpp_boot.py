from asgiref.sync import sync_to_async

from stations.models import ChargePoint


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
