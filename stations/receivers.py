"""What stations itself does on its own events (stations/signals.py): smart charging
runs again when the load of a managed site may change (stations/load_balancing.py).

Cheap and robust: each asks for a debounced run, which happens in a task.
"""

from typing import Any

from django.dispatch import receiver

from stations import load_balancing, tasks
from stations.models import ChargePoint, ChargingSession
from stations.signals import (
    charge_point_connected,
    charge_point_disconnected,
    meter_values_received,
    session_ended,
    session_started,
)


@receiver(session_started, dispatch_uid="stations.load_balancing.session_started")
@receiver(session_ended, dispatch_uid="stations.load_balancing.session_ended")
def session_changed(sender: type, session: ChargingSession, **kwargs: Any) -> None:
    tasks.allocate_soon(session.charge_point.site_id)


@receiver(meter_values_received, dispatch_uid="stations.load_balancing.meter_values")
def draw_measured(sender: type, session: ChargingSession, **kwargs: Any) -> None:
    if load_balancing.note_draw(session):
        tasks.allocate_soon(session.charge_point.site_id)


@receiver(charge_point_connected, dispatch_uid="stations.load_balancing.connected")
@receiver(charge_point_disconnected, dispatch_uid="stations.load_balancing.disconnected")
def charger_came_or_went(sender: type, charge_point: ChargePoint, **kwargs: Any) -> None:
    tasks.allocate_soon(charge_point.site_id)
