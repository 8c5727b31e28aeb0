"""What fleet does when stations reports something (stations/signals.py): a campaign
follows its chargers' firmware statuses. (A charger's configuration is read after boot
by the beat task, not on the boot: fleet/configuration.py due_for_reading.)

Cheap and robust: anything that sends a command goes to a task.
"""

from typing import Any

from django.dispatch import receiver

from fleet import campaigns, tasks
from stations.models import FirmwareStatusEvent
from stations.signals import firmware_status_received


@receiver(firmware_status_received, sender=FirmwareStatusEvent, dispatch_uid="fleet.firmware")
def firmware_status(sender: type, event: FirmwareStatusEvent, **kwargs: Any) -> None:
    campaign_id = campaigns.firmware_status(event)
    if campaign_id is not None:
        tasks.advance_soon(campaign_id)
