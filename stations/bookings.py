"""Booked slots of connectors, for whoever must plan around them.

The station page and the public station API show them ("booked 08:00-09:00"), a
walk-in reservation must not take a connector someone has booked
(charging/reservations.py), and the site's
allocation reserves a booked connector's power from the slot's start. The driver's
side (booking, cancelling, the hold and the no-show) is charging/bookings.py.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from stations.models import Booking, Connector


def live_bookings() -> QuerySet[Booking]:
    """Bookings that still hold their slot (not cancelled, not over)."""
    return Booking.objects.filter(status=Booking.Status.BOOKED)


def overlapping(connector: Connector, start: datetime, end: datetime) -> QuerySet[Booking]:
    """The connector's live bookings whose slot meets [start, end), soonest first."""
    return live_bookings().filter(connector=connector, starts_at__lt=end, ends_at__gt=start)


def booked_slots(
    connector_ids: Iterable[int], start: datetime, end: datetime
) -> dict[int, list[Booking]]:
    """Live bookings meeting [start, end) per connector pk, in one query, soonest first."""
    slots: dict[int, list[Booking]] = defaultdict(list)
    bookings = live_bookings().filter(
        connector_id__in=list(connector_ids), starts_at__lt=end, ends_at__gt=start
    )
    for booking in bookings.order_by("starts_at", "id"):
        slots[booking.connector_id].append(booking)
    return dict(slots)


def upcoming_slots(connector_ids: Iterable[int], now: datetime) -> dict[int, list[Booking]]:
    """The slots booked from now to as far ahead as one may book (BOOKING_DAYS_AHEAD),
    per connector pk: what the station page and the public API show everyone."""
    return booked_slots(connector_ids, now, now + timedelta(days=settings.BOOKING_DAYS_AHEAD + 1))


def sites_with_slots_turning(since: datetime, until: datetime) -> list[int]:
    """Sites where a live booked slot started in (since, until]: their allocation must
    hold its share from now on."""
    return list(
        live_bookings()
        .filter(starts_at__gt=since, starts_at__lte=until)
        .exclude(connector__charge_point__site=None)
        .values_list("connector__charge_point__site_id", flat=True)
        .distinct()
    )
