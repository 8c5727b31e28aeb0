"""A network to look at: sites, chargers online or offline, connectors in given states."""

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

from django.utils import timezone

from stations.models import ChargePoint, Connector, Site

_numbers = count(1)


def charger(
    site: Site | None,
    *statuses: str,
    online: bool = True,
    kw: str = "22",
    charge_point_id: str | None = None,
    since: datetime | None = None,
) -> ChargePoint:
    """A charger with one connector per status (numbered from 1), online or not."""
    now = timezone.now()
    charge_point = ChargePoint.objects.create(
        charge_point_id=charge_point_id or f"NET-{next(_numbers)}",
        site=site,
        is_connected=online,
        last_seen_at=now if online else now - timedelta(hours=2),
        disconnected_at=None if online else (since or now - timedelta(hours=2)),
    )
    for number, status in enumerate(statuses, start=1):
        Connector.objects.create(
            charge_point=charge_point,
            connector_id=number,
            status=status,
            max_power_kw=Decimal(kw),
            status_at=since or now - timedelta(minutes=number),
        )
    return charge_point
