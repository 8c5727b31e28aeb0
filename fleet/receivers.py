"""What fleet does when stations reports something (stations/signals.py): a campaign
follows its chargers' firmware statuses; a charger's configuration is read after boot.

Cheap and robust: anything that sends a command goes to a task.
"""

from typing import Any

from django.conf import settings
from django.dispatch import receiver

from fleet import campaigns, tasks
from stations.models import ChargePoint, FirmwareStatusEvent
from stations.signals import charge_point_booted, firmware_status_received


@receiver(firmware_status_received, sender=FirmwareStatusEvent, dispatch_uid="fleet.firmware")
def firmware_status(sender: type, event: FirmwareStatusEvent, **kwargs: Any) -> None:
    campaign_id = campaigns.firmware_status(event)
    if campaign_id is not None:
        tasks.advance_soon(campaign_id)


@receiver(charge_point_booted, sender=ChargePoint, dispatch_uid="fleet.configuration")
def booted(sender: type, charge_point: ChargePoint, **kwargs: Any) -> None:
    if settings.FLEET_READ_CONFIGURATION_AT_BOOT:
        tasks.read_configuration_soon(charge_point.charge_point_id)
