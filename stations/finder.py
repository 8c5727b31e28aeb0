"""Finding a charger: the sites a driver can charge at, filtered and sorted by distance.

The filters run in SQL (a site matches when one of its public connectors meets all of
them), so a search costs the same few queries with 100 or 10,000 sites; only the page
being shown has its connectors read. Distance needs no PostGIS: a bounding box around
the driver is a plain range filter on latitude/longitude, portable across SQLite and
PostgreSQL, and the exact great-circle distance is computed here on that subset.
Public means: on a site, accepted charge point, a real connector (not 0).

Rules from outside stations (a price from billing) come in as a condition on Connector
(`StationFilter.connector_q`), so this module never needs to know what a tariff is.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, overload

from django.conf import settings
from django.db import models
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from stations import opening_hours, signals
from stations.models import ChargePoint, Connector, Site

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
KM_PER_DEGREE_LATITUDE = math.pi * EARTH_RADIUS_KM / 180
# "Near me" looks this far first and widens the box (x4) until the page is filled.
NEAR_FIRST_RADIUS_KM = 25.0
NEAR_RADIUS_GROWTH = 4.0
# A search by place reads at most this many words (each is a condition on four columns).
PLACE_MAX_WORDS = 5
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
    # A place's name, address, postal code or city, in words ("lindholmen göteborg"):
    # every word must appear in one of them.
    place: str = ""
    # A further condition on Connector, from an app stations does not import (the portal
    # and the API fill it from billing.price_filter): SQL, like the filters above.
    connector_q: Q | None = None


def _label(choices: type[models.TextChoices], value: str) -> str:
    """A choice's label in the active language. Connector.get_status_display() hashes every
    choice's label on each call (a gettext each): a page of 50 sites made hundreds."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


@dataclass
class ConnectorState:
    connector: Connector
    online: bool

    @property
    def type_label(self) -> str:
        return _label(Connector.Type, self.connector.connector_type)

    @property
    def status_label(self) -> str:
        return _label(Connector.Status, self.connector.status)

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
    open_now: bool = True  # by the site's opening hours (stations/opening_hours.py)

    @property
    def available_count(self) -> int:
        return sum(state.available for state in self.connectors)

    @property
    def connector_types(self) -> list[str]:
        return sorted({state.type_label for state in self.connectors})

    @property
    def max_power_kw(self) -> Decimal:
        return max(state.connector.max_power_kw for state in self.connectors)


# What drivers see and may start: on a site, of an accepted charger, not connector 0.
PUBLIC_CONNECTOR = Q(
    connector_id__gt=0,
    charge_point__site__isnull=False,
    charge_point__registration_status=ChargePoint.Registration.ACCEPTED,
)


def _public_connectors(site_ids: list[int] | None = None) -> QuerySet[Connector]:
    connectors = (
        Connector.objects.filter(PUBLIC_CONNECTOR)
        .select_related("charge_point__site")
        # The charge point's configuration can be large and is never shown here.
        .defer("charge_point__configuration")
        .order_by("charge_point__site__name", "charge_point__charge_point_id", "connector_id")
    )
    if site_ids is not None:
        connectors = connectors.filter(charge_point__site_id__in=site_ids)
    return connectors


def public_connectors(site_id: int | None = None) -> list[Connector]:
    """Public connectors with charge point and site, in one query."""
    return list(_public_connectors(None if site_id is None else [site_id]))


def group_by_site(connectors: list[Connector], now: datetime | None = None) -> list[SiteResult]:
    now = now or timezone.now()
    results: dict[int, SiteResult] = {}
    for connector in connectors:
        site = connector.charge_point.site
        assert site is not None  # public_connectors() only reads connectors on a site
        result = results.setdefault(site.pk, SiteResult(site))
        result.connectors.append(ConnectorState(connector, connector.charge_point.is_online(now)))
    opening_hours.prefetch(result.site for result in results.values())
    for result in results.values():
        result.open_now = opening_hours.is_open(result.site, now)
    return list(results.values())


def _online_now(now: datetime) -> Q:
    """ChargePoint.is_online() in SQL, relative to a connector. The offline limit is per
    charger (heartbeat interval x factor); date arithmetic on a column differs between
    SQLite and PostgreSQL, so there is one exact term per interval in use (a handful)."""
    factor = settings.OCPP_OFFLINE_AFTER_HEARTBEATS
    intervals = ChargePoint.objects.order_by().values_list("heartbeat_interval", flat=True)
    online = Q(pk__in=[])  # no charger at all: nothing is online
    for interval in set(intervals.distinct()):
        online |= Q(
            charge_point__heartbeat_interval=interval,
            charge_point__last_seen_at__gte=now - timedelta(seconds=interval * factor),
        )
    return Q(charge_point__is_connected=True) & online


def matching_sites(wanted: StationFilter, now: datetime | None = None) -> QuerySet[Site]:
    """Sites with at least one public connector meeting all of `wanted` (position aside)."""
    connectors = Connector.objects.filter(PUBLIC_CONNECTOR, charge_point__site=OuterRef("pk"))
    if wanted.connector_type:
        connectors = connectors.filter(connector_type=wanted.connector_type)
    if wanted.min_power_kw is not None:
        connectors = connectors.filter(max_power_kw__gte=wanted.min_power_kw)
    if wanted.available_now:
        connectors = connectors.filter(
            _online_now(now or timezone.now()), status=Connector.Status.AVAILABLE
        )
    if wanted.connector_q is not None:
        connectors = connectors.filter(wanted.connector_q)
    return Site.objects.filter(Exists(connectors), place_named(wanted.place)).order_by("name", "pk")


def place_named(text: str) -> Q:
    """Sites whose name, address, postal code or city hold every word of `text` (case
    insensitive; on SQLite only for ASCII letters); no words: every site."""
    condition = Q()
    for word in text.split()[:PLACE_MAX_WORDS]:
        condition &= (
            Q(name__icontains=word)
            | Q(address__icontains=word)
            | Q(postal_code__icontains=word)
            | Q(city__icontains=word)
        )
    return condition


def bounding_box(lat: float, lon: float, radius_km: float) -> Q:
    """Every point within radius_km of (lat, lon) lies in this box (and some outside it):
    a condition on any model's `latitude`/`longitude` (sites here, the drivers' nearby
    watches in notifications/nearby.py)."""
    d_lat = radius_km / KM_PER_DEGREE_LATITUDE
    box = Q(latitude__gte=max(-90.0, lat - d_lat), latitude__lte=min(90.0, lat + d_lat))
    cos_lat = math.cos(math.radians(min(89.999, abs(lat) + d_lat)))
    d_lon = radius_km / (KM_PER_DEGREE_LATITUDE * cos_lat)
    if lat + d_lat >= 90 or lat - d_lat <= -90 or d_lon >= 180:
        return box  # a pole or the whole globe in reach: every longitude
    west, east = lon - d_lon, lon + d_lon
    if west < -180:  # the box crosses the antimeridian
        return box & (Q(longitude__gte=west + 360) | Q(longitude__lte=east))
    if east > 180:
        return box & (Q(longitude__gte=west) | Q(longitude__lte=east - 360))
    return box & Q(longitude__gte=west, longitude__lte=east)


class SiteSearch:
    """The sites matching a filter, in order, read a slice at a time: `len()` is a COUNT,
    `search[a:b]` reads those sites with their connectors (Django's Paginator and DRF's
    pagination take it as they take a list). Nearest first when a position is given
    (sites without coordinates last, by name), else by name."""

    def __init__(self, wanted: StationFilter, now: datetime | None = None) -> None:
        self.wanted = wanted
        self.now = now or timezone.now()
        self.sites = matching_sites(wanted, self.now)
        self._counts: dict[str, Any] | None = None

    def _count(self, which: str) -> Any:
        # Both counts in one scan: with filters, each scan is the search's dearest query.
        if self._counts is None:
            self._counts = self.sites.aggregate(
                total=Count("pk"),
                located=Count("pk", filter=Q(latitude__isnull=False, longitude__isnull=False)),
                # The extent of the sites: where "near me" starts looking (_first_radius_km).
                south=Min("latitude"),
                north=Max("latitude"),
                west=Min("longitude"),
                east=Max("longitude"),
            )
        return self._counts[which]

    def __len__(self) -> int:
        return self._count("total")

    @overload
    def __getitem__(self, index: int) -> SiteResult: ...
    @overload
    def __getitem__(self, index: slice) -> list[SiteResult]: ...
    def __getitem__(self, index: int | slice) -> SiteResult | list[SiteResult]:
        if isinstance(index, int):
            found = self[index : index + 1] if index >= 0 else self[:][index:][:1]
            if not found:
                raise IndexError(index)
            return found[0]
        start, stop, step = index.indices(len(self))
        if step != 1:
            return self[start:stop][::step]
        if start >= stop:
            return []
        return self._read(start, stop)

    def __iter__(self) -> Iterator[SiteResult]:
        return iter(self[:])

    def _read(self, start: int, stop: int) -> list[SiteResult]:
        distances: dict[int, float] = {}
        if self.wanted.near is None:
            ids = list(self.sites.values_list("pk", flat=True)[start:stop])
        else:
            ids, distances = self._nearest_ids(start, stop)
        connectors = list(_public_connectors(ids))
        by_site = {result.site.pk: result for result in group_by_site(connectors, self.now)}
        results = [by_site[pk] for pk in ids if pk in by_site]
        for result in results:
            result.distance_km = distances.get(result.site.pk)
        return results

    def _first_radius_km(self, lat: float, wanted: int) -> float:
        """A box expected to hold about three times `wanted` sites, if the sites were
        spread evenly over their extent: one box query is then usually enough (each is a
        scan with the filters). Too small (a town of chargers, a driver abroad) only costs
        another, wider, box."""
        located = self._count("located")
        if not located:
            return NEAR_FIRST_RADIUS_KM
        height = float(self._count("north") - self._count("south"))
        width = float(self._count("east") - self._count("west"))
        area_deg2 = max(height, 0.01) * max(width, 0.01)
        needed_deg2 = area_deg2 * min(1.0, 3 * wanted / located)
        # A box of radius r spans (2r / km per degree)^2 / cos(lat) square degrees.
        cos_lat = max(0.01, math.cos(math.radians(lat)))
        radius = KM_PER_DEGREE_LATITUDE * math.sqrt(needed_deg2 * cos_lat) / 2
        return max(NEAR_FIRST_RADIUS_KM, radius)

    def _nearest_ids(self, start: int, stop: int) -> tuple[list[int], dict[int, float]]:
        """Site ids start..stop by distance: the box widens until it holds `stop` sites
        that are certainly nearer than anything outside it (within its radius), so only
        the sites near the driver are read and sorted, not the whole network."""
        assert self.wanted.near is not None
        lat, lon = self.wanted.near
        located = self.sites.filter(latitude__isnull=False, longitude__isnull=False)
        located_count = self._count("located")
        radius = self._first_radius_km(lat, stop)
        while True:
            whole_globe = radius >= math.pi * EARTH_RADIUS_KM
            candidates = located if whole_globe else located.filter(bounding_box(lat, lon, radius))
            rows = candidates.values_list("pk", "name", "latitude", "longitude")
            distances, names = {}, {}
            for pk, name, site_lat, site_lon in rows:
                distances[pk] = haversine_km(lat, lon, float(site_lat), float(site_lon))
                names[pk] = name
            inside = sorted(
                (distance, names[pk], pk)
                for pk, distance in distances.items()
                if distance <= radius
            )
            if whole_globe or len(inside) >= min(stop, located_count):
                break
            radius *= NEAR_RADIUS_GROWTH
        ordered = [pk for _distance, _name, pk in inside]  # ties by name
        if stop <= len(ordered):
            return ordered[start:stop], distances
        # Past the located sites: those without coordinates, by name.
        rest_start = max(0, start - len(ordered))
        unlocated = self.sites.filter(Q(latitude__isnull=True) | Q(longitude__isnull=True))
        rest = list(unlocated.values_list("pk", flat=True)[rest_start : rest_start + stop - start])
        return (ordered[start:stop] + rest)[: stop - start], distances


def find_sites(wanted: StationFilter, now: datetime | None = None) -> SiteSearch:
    """Sites with at least one connector matching `wanted`, all their connectors shown;
    nearest first when a position is given (sites without coordinates last), else by name.
    A lazy sequence: slice it (or give it to a Paginator) to read one page."""
    return SiteSearch(wanted, now)


def announce_search(
    wanted: StationFilter, results: list[SiteResult], now: datetime | None = None
) -> None:
    """Tell listeners (insights: unmet demand, site planning) that a driver searched and
    whether the first page of `results` held a free connector. Called once per search by
    the portal and the API, on its first page only."""
    signals.announce(
        signals.station_searched,
        sender=Site,
        at=now or timezone.now(),
        near=wanted.near,
        connector_type=wanted.connector_type,
        found_free=any(result.available_count for result in results),
    )
