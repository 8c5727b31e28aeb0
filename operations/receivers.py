"""What operations does when stations reports something (stations/signals.py).

Receivers are sent robustly (stations.signals.announce): one that fails is logged and the
charger still gets its answer; the periodic sweep (operations/tasks.py) re-derives what a
lost event would have done.
"""

from typing import Any

from django.dispatch import receiver

from operations import emergency
from stations.models import ChargerCommand
from stations.signals import command_finished

# --- Emergency stop (operations/emergency.py) ------------------------------------------------


@receiver(command_finished, dispatch_uid="operations.emergency.record_boot_answer")
def emergency_stop_told_after_boot(sender: type, command: ChargerCommand, **kwargs: Any) -> None:
    """A charger back on a stopped site answered the stop (or the release it missed)."""
    emergency.record_boot_answer(command)
