"""Live updates for the operations dashboard: every connector status change and every
charger coming online or going offline, relayed to the staff-only network group of
`ws/live/` (stations/live.py NETWORK_GROUP).

Here rather than in stations: what staff watch is operations' business; stations only
owns the socket. A message says what changed; the page then reloads its counts
(operations/views.py), so that the figures always come from the one rule in
operations/dashboard.py, never from arithmetic in the browser.
"""

from typing import Any

from django.dispatch import receiver

from stations import live
from stations.models import ChargePoint, Connector
from stations.signals import (
    charge_point_connected,
    charge_point_disconnected,
    connector_status_changed,
)


def _relay(data: dict[str, Any]) -> None:
    # relay() never raises: a channel layer that is down must not fail the charger's
    # request; the page misses an update and is right again on its next load.
    live.relay([live.NETWORK_GROUP], {"kind": "network", **data})


@receiver(connector_status_changed, sender=Connector, dispatch_uid="operations.live.connector")
def relay_connector_status(
    sender: type[Connector], connector: Connector, previous_status: str, **kwargs: Any
) -> None:
    _relay(
        {
            "event": "connector",
            "charge_point": connector.charge_point.charge_point_id,
            "connector": connector.connector_id,
            "status": connector.status,
            "previous_status": previous_status,
        }
    )


@receiver(charge_point_connected, sender=ChargePoint, dispatch_uid="operations.live.connected")
def relay_connected(sender: type[ChargePoint], charge_point: ChargePoint, **kwargs: Any) -> None:
    _relay({"event": "connected", "charge_point": charge_point.charge_point_id})


@receiver(
    charge_point_disconnected, sender=ChargePoint, dispatch_uid="operations.live.disconnected"
)
def relay_disconnected(sender: type[ChargePoint], charge_point: ChargePoint, **kwargs: Any) -> None:
    _relay({"event": "disconnected", "charge_point": charge_point.charge_point_id})
