"""Build a charger's status and online history by hand, in a site's local time."""

from datetime import datetime
from zoneinfo import ZoneInfo

from stations.models import ChargePoint, ConnectionEvent, Connector, Site, StatusEvent

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def local(*parts: int, fold: int = 0) -> datetime:
    """A moment in Stockholm: local(2026, 5, 10, 10, 30); fold=1 for the second of a
    repeated hour (the night summer time ends)."""
    return datetime(*parts, tzinfo=STOCKHOLM, fold=fold)


def charger(name: str = "CP-U1", ports: int = 2, site: Site | None = None) -> ChargePoint:
    """A charger at a site in Stockholm with connector 0 and `ports` ports."""
    site = site or Site.objects.get_or_create(name="Uptime site")[0]
    cp = ChargePoint.objects.create(charge_point_id=name, site=site, allow_unauthenticated=True)
    for number in range(ports + 1):
        Connector.objects.create(charge_point=cp, connector_id=number)
    return cp


def port(cp: ChargePoint, number: int) -> Connector:
    return cp.connectors.get(connector_id=number)


def status(
    cp: ChargePoint, number: int, at: datetime, value: str, error_code: str = "NoError"
) -> None:
    StatusEvent.objects.create(
        connector=port(cp, number), status=value, error_code=error_code, timestamp=at
    )


def went(cp: ChargePoint, kind: str, at: datetime) -> None:
    ConnectionEvent.objects.create(charge_point=cp, kind=kind, at=at)


def commissioned(cp: ChargePoint, at: datetime) -> None:
    """Every port's (and connector 0's) first status: Available."""
    for connector in cp.connectors.all():
        status(cp, connector.connector_id, at, "Available")
    went(cp, "connected", at)
