"""Finding a charger: the sites a driver can charge at, filtered and sorted by distance.

One query reads every public connector with its charge point and site; filtering and
sorting happen here in Python. A network of a few thousand connectors fits that well;
a larger one would move the distance into the database (PostGIS) without changing
callers. Public means: on a site, accepted charge point, a real connector (not 0).
"""

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from stations.models import ChargePoint, Connector, Site

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
STARTABLE_STATUSES = frozenset(
    {
        Connector.Status.AVAILABLE,
        Connector.Status.PREPARING,
        Connector.Status.RESERVED,
        Connector.Status.UNKNOWN,
    }
)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km: plenty for "which charger is nearest"."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def parse_position(text: str) -> tuple[float, float] | None:
    """ "lat,lon" as the page's geolocation script sends it; None when it is not one."""
    try:
        lat_text, lon_text = text.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat + lon):
        return None
    return lat, lon


@dataclass(frozen=True)
class StationFilter:
    connector_type: str = ""
    min_power_kw: Decimal | None = None
    available_now: bool = False
    near: tuple[float, float] | None = None


@dataclass
class ConnectorState:
    connector: Connector
    online: bool

    @property
    def available(self) -> bool:
        """Free to plug in now: the charger is reachable and the connector says so."""
        return self.online and self.connector.status == Connector.Status.AVAILABLE

    @property
    def startable(self) -> bool:
        """Worth asking the charger to start: not taken, not broken. Preparing is a car
        plugged in and waiting; Reserved may be the driver's own reservation; Unknown
        is a charger that never said: it decides."""
        return self.online and self.connector.status in STARTABLE_STATUSES


@dataclass
class SiteResult:
    site: Site
    connectors: list[ConnectorState] = field(default_factory=list)
    distance_km: float | None = None

    @property
    def available_count(self) -> int:
        return sum(state.available for state in self.connectors)

    @property
    def connector_types(self) -> list[str]:
        return sorted({state.connector.get_connector_type_display() for state in self.connectors})

    @property
    def max_power_kw(self) -> Decimal:
        return max(state.connector.max_power_kw for state in self.connectors)


# What drivers see and may start: on a site, of an accepted charger, not connector 0.
PUBLIC_CONNECTOR = Q(
    connector_id__gt=0,
    charge_point__site__isnull=False,
    charge_point__registration_status=ChargePoint.Registration.ACCEPTED,
)


def public_connectors(site_id: int | None = None) -> list[Connector]:
    """Public connectors with charge point and site, in one query."""
    connectors = (
        Connector.objects.filter(PUBLIC_CONNECTOR)
        .select_related("charge_point__site")
        # The charge point's configuration can be large and is never shown here.
        .defer("charge_point__configuration")
        .order_by("charge_point__site__name", "charge_point__charge_point_id", "connector_id")
    )
    if site_id is not None:
        connectors = connectors.filter(charge_point__site_id=site_id)
    return list(connectors)


def _matches(state: ConnectorState, wanted: StationFilter) -> bool:
    connector = state.connector
    if wanted.connector_type and connector.connector_type != wanted.connector_type:
        return False
    if wanted.min_power_kw is not None and connector.max_power_kw < wanted.min_power_kw:
        return False
    return not wanted.available_now or state.available


def group_by_site(connectors: list[Connector], now: datetime | None = None) -> list[SiteResult]:
    now = now or timezone.now()
    results: dict[int, SiteResult] = {}
    for connector in connectors:
        site = connector.charge_point.site
        assert site is not None  # public_connectors() only reads connectors on a site
        result = results.setdefault(site.pk, SiteResult(site))
        result.connectors.append(ConnectorState(connector, connector.charge_point.is_online(now)))
    return list(results.values())


def find_sites(wanted: StationFilter, now: datetime | None = None) -> list[SiteResult]:
    """Sites with at least one connector matching `wanted`, all their connectors shown;
    nearest first when a position is given (sites without coordinates last), else by name.
    """
    found = [
        result
        for result in group_by_site(public_connectors(), now)
        if any(_matches(state, wanted) for state in result.connectors)
    ]
    if wanted.near is not None:
        lat, lon = wanted.near
        for result in found:
            site = result.site
            if site.latitude is not None and site.longitude is not None:
                result.distance_km = haversine_km(
                    lat, lon, float(site.latitude), float(site.longitude)
                )
        found.sort(key=lambda r: (r.distance_km is None, r.distance_km or 0.0, r.site.name))
    return found
