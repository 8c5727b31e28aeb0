""" "A free charger near me": a driver's watch on a radius around them, and the one
message when a matching connector in it becomes Available (docs/architecture.md).

The portal's *Find me a charger* starts a watch with the browser's position, a radius,
a connector type and a minimum power; the page (or the installed app) sends the position
again while it is open, at most every POSITION_EVERY. When a connector becomes Available
(stations' connector_status_changed, heard in notifications/receivers.py), `matches()`
finds the watches around it: a bounding box in SQL (the widest radius a driver may ask
for, NEARBY_MAX_RADIUS_KM, on the indexed latitude and longitude), the type and power in
SQL, and each watch's own box (stored with its position), then the exact distance
(stations.finder.haversine_km) against each watch's own radius. Each matching driver
is told once (web push to their browsers if they have subscribed, else in the portal) and
their watch ends: the row, with the position, is deleted. A watch nobody matched ends
after NEARBY_WATCH_SECONDS (`expire()`, a beat task).
"""

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from notifications import events, outbox
from notifications.models import NearbyWatch, OutboxMessage
from stations import finder
from stations.models import Connector
from users.models import User

logger = logging.getLogger(__name__)

# The kind of message (OutboxMessage.kind) a match sends.
NEARBY_FREE = "nearby_free"

# The page sends the driver's position at most this often (portal/static/portal/nearby.js);
# the server writes it no more often either.
POSITION_EVERY = timedelta(seconds=30)


def start(
    user: User,
    latitude: float,
    longitude: float,
    radius_km: Decimal,
    connector_type: str = "",
    min_power_kw: Decimal | None = None,
    now: datetime | None = None,
) -> NearbyWatch:
    """Start the driver's watch, or start it again with these wishes and position (one per
    driver); it runs for NEARBY_WATCH_SECONDS. The values are checked by the caller's form
    (notifications/forms.py NearbyWatchForm)."""
    now = now or timezone.now()
    watch, _created = NearbyWatch.objects.update_or_create(
        user=user,
        defaults={
            "latitude": latitude,
            "longitude": longitude,
            **box_around(latitude, longitude, float(radius_km)),
            "radius_km": radius_km,
            "connector_type": connector_type,
            "min_power_kw": min_power_kw,
            "started_at": now,
            "position_at": now,
            "expires_at": now + timedelta(seconds=settings.NEARBY_WATCH_SECONDS),
        },
    )
    return watch


def running(user: User, now: datetime | None = None) -> NearbyWatch | None:
    """The driver's watch if it still runs."""
    return NearbyWatch.objects.filter(user=user, expires_at__gt=now or timezone.now()).first()


def move(user: User, latitude: float, longitude: float, now: datetime | None = None) -> bool:
    """The driver is here now: whether they have a running watch. The position is written
    at most every POSITION_EVERY (a page sending more often changes nothing sooner)."""
    now = now or timezone.now()
    watch = NearbyWatch.objects.filter(user=user, expires_at__gt=now).first()
    if watch is None:
        return False
    NearbyWatch.objects.filter(pk=watch.pk, position_at__lte=now - POSITION_EVERY).update(
        latitude=latitude,
        longitude=longitude,
        position_at=now,
        **box_around(latitude, longitude, float(watch.radius_km)),
    )
    return True


def box_around(latitude: float, longitude: float, radius_km: float) -> dict[str, float]:
    """The watch's own box (south, north, west, east in degrees) holding every point within
    radius_km; across the antimeridian or over a pole, every longitude (a superset: the
    exact distance decides)."""
    d_lat = radius_km / finder.KM_PER_DEGREE_LATITUDE
    south, north = max(-90.0, latitude - d_lat), min(90.0, latitude + d_lat)
    cos_lat = math.cos(math.radians(min(89.999, abs(latitude) + d_lat)))
    d_lon = radius_km / (finder.KM_PER_DEGREE_LATITUDE * cos_lat)
    west, east = longitude - d_lon, longitude + d_lon
    if north >= 90 or south <= -90 or west < -180 or east > 180:
        west, east = -180.0, 180.0
    return {"south": south, "north": north, "west": west, "east": east}


def stop(user: User) -> bool:
    """End the driver's watch; its position goes with it. Whether there was one."""
    deleted, _by_model = NearbyWatch.objects.filter(user=user).delete()
    return bool(deleted)


def expire(now: datetime | None = None) -> int:
    """Delete the watches past their time, with their positions; how many."""
    deleted, _by_model = NearbyWatch.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


@dataclass(frozen=True)
class Match:
    watch: NearbyWatch
    distance_km: float


def matches(connector: Connector, now: datetime | None = None) -> list[Match]:
    """The running watches this connector suits, if it were free: a public connector of a
    located site within the watch's radius, of the type and power asked for."""
    site = connector.charge_point.site
    if site is None or site.latitude is None or site.longitude is None:
        return []
    if not Connector.objects.filter(finder.PUBLIC_CONNECTOR, pk=connector.pk).exists():
        return []
    lat, lon = float(site.latitude), float(site.longitude)
    candidates = NearbyWatch.objects.filter(
        # The index narrows to the widest radius anyone may ask for; each watch's own box
        # then leaves only those whose radius may reach the site.
        finder.bounding_box(lat, lon, settings.NEARBY_MAX_RADIUS_KM),
        Q(connector_type="") | Q(connector_type=connector.connector_type),
        Q(min_power_kw__isnull=True) | Q(min_power_kw__lte=connector.max_power_kw),
        south__lte=lat,
        north__gte=lat,
        west__lte=lon,
        east__gte=lon,
        expires_at__gt=now or timezone.now(),
    ).select_related("user")
    found = []
    for watch in candidates:
        distance = finder.haversine_km(watch.latitude, watch.longitude, lat, lon)
        if distance <= float(watch.radius_km):
            found.append(Match(watch, distance))
    return found


def tell_watchers(connector_id: int, now: datetime | None = None) -> int:
    """Tell each driver whose watch this connector suits, once, if it is still Available,
    and end their watches; returns how many were told."""
    connector = (
        Connector.objects.select_related("charge_point__site").filter(pk=connector_id).first()
    )
    if connector is None or connector.status != Connector.Status.AVAILABLE:
        return 0  # taken again before we got here
    told = 0
    for match in matches(connector, now):
        with transaction.atomic():
            # The delete is the claim: of two workers handling two free connectors, the
            # one that deletes the watch tells the driver; the other finds nothing. The
            # messages are written in the same transaction (the outbox).
            deleted, _by_model = NearbyWatch.objects.filter(
                pk=match.watch.pk, started_at=match.watch.started_at
            ).delete()
            if not deleted:
                continue
            key = f"nearby:{match.watch.pk}:{match.watch.started_at.isoformat()}"
            queued = enqueue(match.watch.user, message(match, connector), key)
        events.deliver_now(queued)
        told += 1
    return told


def enqueue(user: User, content: dict[str, str], key: str) -> list[OutboxMessage | None]:
    """The driver's messages, to the outbox: a push to each of their browsers when Web
    Push is on and they subscribed (channel "webpush"), else their notification list in
    the portal (channel "portal", live on their open pages); `key` makes it once per
    watch."""
    pushed = events.push(NEARBY_FREE, user, **content, key=key)
    if pushed:
        return pushed
    return [outbox.enqueue(NEARBY_FREE, user, "portal", content, key, deliver_after_commit=False)]


def message(match: Match, connector: Connector) -> dict[str, str]:
    """What the driver reads, in their language: the station, the distance, the connector,
    and the station's page, where they start or reserve."""
    site = connector.charge_point.site
    assert site is not None  # matches() only finds connectors on a site
    with translation.override(match.watch.user.language or settings.LANGUAGE_CODE):
        distance = formats.number_format(round(match.distance_km, 1), 1)
        return {
            "title": _("A charger is free near you"),
            "body": _("%(station)s, %(distance)s km away: %(type)s %(power)s kW")
            % {
                "station": site.name,
                "distance": distance,
                "type": connector.get_connector_type_display(),
                "power": formats.number_format(connector.max_power_kw.normalize(), use_l10n=True),
            },
            "url": reverse("portal:station", args=[site.pk]),
        }
