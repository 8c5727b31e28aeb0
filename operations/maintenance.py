"""Planned maintenance windows: the chargers concerned are made Inoperative for the
window (ChangeAvailability, connector 0) and Operative again after it, unless another
window or an emergency stop still holds them (operations/availability.py).

`run()` is the beat task's (operations/tasks.py, every minute). It is idempotent and safe
with two workers: a conditional UPDATE of `applied_at` / `released_at` claims each start
and end, so only the worker that claimed it sends the commands. A charger offline at the
start gets Inoperative when it boots during the window (availability.after_boot).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from django.db.models import Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from operations import availability
from operations.models import MaintenanceWindow
from stations import opening_hours
from stations.models import ChargePoint

logger = logging.getLogger(__name__)


@dataclass
class Run:
    """What one run did: each window's chargers and their answers."""

    applied: dict[int, dict[str, str]] = field(default_factory=dict)
    released: dict[int, dict[str, str]] = field(default_factory=dict)


def charge_points_of(window: MaintenanceWindow) -> QuerySet[ChargePoint]:
    """The accepted chargers a window is about: its charger, or every one of its site."""
    if window.charge_point_id is not None:
        chargers = ChargePoint.objects.filter(pk=window.charge_point_id)
    else:
        chargers = ChargePoint.objects.filter(site_id=window.site_id)
    return chargers.filter(registration_status=ChargePoint.Registration.ACCEPTED)


def apply_due(now: datetime | None = None) -> dict[int, dict[str, str]]:
    """Make the chargers of every window that has started (and not ended) Inoperative;
    {window id: {charge point id: answer}} for the windows this call claimed."""
    now = now or timezone.now()
    applied: dict[int, dict[str, str]] = {}
    due = MaintenanceWindow.objects.filter(
        applied_at__isnull=True, starts_at__lte=now, ends_at__gt=now
    )
    for window in due:
        if not MaintenanceWindow.objects.filter(pk=window.pk, applied_at__isnull=True).update(
            applied_at=now
        ):
            continue  # another worker claimed it
        ids = charge_points_of(window).values_list("charge_point_id", flat=True)
        applied[window.pk] = availability.set_availability(
            ids, availability.INOPERATIVE, source=availability.MAINTENANCE_SOURCE
        )
        logger.info("Maintenance window %s applied: %s", window.pk, applied[window.pk])
    return applied


def release_ended(now: datetime | None = None) -> dict[int, dict[str, str]]:
    """Make the chargers of every applied window that has ended Operative again, except
    those another window or an emergency stop still holds."""
    now = now or timezone.now()
    released: dict[int, dict[str, str]] = {}
    ended = MaintenanceWindow.objects.filter(
        applied_at__isnull=False, released_at__isnull=True, ends_at__lte=now
    )
    for window in ended:
        if not MaintenanceWindow.objects.filter(pk=window.pk, released_at__isnull=True).update(
            released_at=now
        ):
            continue
        free = [
            cp.charge_point_id
            for cp in charge_points_of(window)
            if not availability.is_held(cp, now)
        ]
        released[window.pk] = availability.set_availability(
            free, availability.OPERATIVE, source=availability.MAINTENANCE_SOURCE
        )
        logger.info("Maintenance window %s released: %s", window.pk, released[window.pk])
    return released


def run(now: datetime | None = None) -> Run:
    """One pass of the beat task: apply the windows that started, release those that ended."""
    now = now or timezone.now()
    return Run(applied=apply_due(now), released=release_ended(now))


def ends_by_charge_point(
    charge_points: Iterable[ChargePoint], now: datetime | None = None
) -> dict[int, datetime]:
    """{charge point pk: when its maintenance ends} for those under maintenance now
    (the latest end of the windows holding it), in one query."""
    now = now or timezone.now()
    chargers = list(charge_points)
    if not chargers:
        return {}
    site_ids = {cp.site_id for cp in chargers if cp.site_id is not None}
    windows = MaintenanceWindow.objects.filter(
        Q(charge_point__in=chargers) | Q(site_id__in=site_ids),
        starts_at__lte=now,
        ends_at__gt=now,
    ).values_list("charge_point_id", "site_id", "ends_at")
    ends: dict[int, datetime] = {}
    for charge_point_id, site_id, ends_at in windows:
        for cp in chargers:
            if cp.pk == charge_point_id or (site_id is not None and cp.site_id == site_id):
                ends[cp.pk] = max(ends_at, ends.get(cp.pk, ends_at))
    return ends


def until_text(ends_at: datetime, zone: tzinfo, now: datetime | None = None) -> str:
    """When maintenance ends in local time: "14:30", or with the date when that is not
    today there."""
    local = ends_at.astimezone(zone)
    today = (now or timezone.now()).astimezone(zone).date()
    if local.date() == today:
        return formats.time_format(local, "H:i")
    return formats.date_format(local, "j M H:i")


def notices(charge_points: Iterable[ChargePoint], now: datetime | None = None) -> dict[int, str]:
    """{charge point pk: "Under maintenance until 14:30"} for drivers, for the chargers
    under maintenance now, in their site's time zone (stations.opening_hours.site_zone)."""
    now = now or timezone.now()
    chargers = {cp.pk: cp for cp in charge_points}
    notes = {}
    for pk, ends_at in ends_by_charge_point(chargers.values(), now).items():
        site = chargers[pk].site
        zone = opening_hours.site_zone(site) if site else timezone.get_default_timezone()
        notes[pk] = _("Under maintenance until %(time)s") % {"time": until_text(ends_at, zone, now)}
    return notes
