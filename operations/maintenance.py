"""Planned maintenance windows: the chargers concerned are made Inoperative for the
window (ChangeAvailability, connector 0) and Operative again after it, unless another
window or an emergency stop still holds them (operations/availability.py).

`run()` is the beat task's (operations/tasks.py, every minute). It is idempotent and safe
with two workers: a conditional UPDATE of `applied_at` / `released_at` claims each start
and end, so only the worker that claimed it sends the commands. A charger offline at the
start gets Inoperative when it boots during the window (availability.after_boot). A
worker that died between its claim and the commands left connected chargers untold: the
next runs send them what their last command does not say (`send_missed`).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from operations import availability
from operations.models import MaintenanceWindow
from stations import opening_hours
from stations.models import ChargePoint, ChargerCommand

logger = logging.getLogger(__name__)

# A claim younger than this may still be sending (its commands are recorded as they go);
# a release older than CATCH_UP is left to the charger's next boot (after_boot).
CLAIM_GRACE = timedelta(minutes=1)
CATCH_UP = timedelta(hours=1)


@dataclass
class Run:
    """What one run did: each window's chargers and their answers."""

    applied: dict[int, dict[str, str]] = field(default_factory=dict)
    released: dict[int, dict[str, str]] = field(default_factory=dict)
    resent: dict[int, dict[str, str]] = field(default_factory=dict)


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


def untold(window: MaintenanceWindow, kind: str) -> list[ChargePoint]:
    """The window's connected chargers whose last ChangeAvailability for the whole charger
    (from any source, whatever its answer) was not `kind`, or that never had one."""
    last = (
        ChargerCommand.objects.filter(
            charge_point=OuterRef("pk"), action="ChangeAvailability", payload__connectorId=0
        )
        .order_by("-pk")
        .values("pk")[:1]
    )
    connected = list(
        charge_points_of(window).filter(is_connected=True).annotate(last_command=Subquery(last))
    )
    kinds = dict(
        ChargerCommand.objects.filter(
            pk__in=[cp.last_command for cp in connected if cp.last_command]
        ).values_list("pk", "payload__type")
    )
    return [cp for cp in connected if kinds.get(cp.last_command) != kind]


def send_missed(now: datetime | None = None) -> dict[int, dict[str, str]]:
    """Inoperative to the connected chargers of a window in force whose last availability
    command is not Inoperative; Operative to those of a window released within CATCH_UP
    whose last is not Operative, that operations left Inoperative and nothing holds now
    (as after_boot decides); {window id: answers}. Only claims older than CLAIM_GRACE:
    a younger one may still be sending.

    A charger that was sent the command and refused it, did not answer or was offline is
    not asked again here (that would be every minute): its next boot settles it
    (availability.after_boot).
    """
    now = now or timezone.now()
    claimed_before = now - CLAIM_GRACE
    resent: dict[int, dict[str, str]] = {}
    in_force = MaintenanceWindow.objects.filter(
        applied_at__lte=claimed_before,
        released_at__isnull=True,
        starts_at__lte=now,
        ends_at__gt=now,
    )
    for window in in_force:
        ids = [cp.charge_point_id for cp in untold(window, availability.INOPERATIVE)]
        if ids:
            resent[window.pk] = availability.set_availability(
                ids, availability.INOPERATIVE, source=availability.MAINTENANCE_SOURCE
            )
    released = MaintenanceWindow.objects.filter(
        released_at__lte=claimed_before, released_at__gt=now - CATCH_UP
    )
    for window in released:
        ids = [
            cp.charge_point_id
            for cp in untold(window, availability.OPERATIVE)
            if not availability.is_held(cp, now) and availability.left_inoperative_by_us(cp)
        ]
        if ids:
            resent[window.pk] = availability.set_availability(
                ids, availability.OPERATIVE, source=availability.MAINTENANCE_SOURCE
            )
    for pk, answers in resent.items():
        logger.warning("Maintenance window %s: sent what a lost run missed: %s", pk, answers)
    return resent


def run(now: datetime | None = None) -> Run:
    """One pass of the beat task: apply the windows that started, release those that
    ended, and send what an earlier run claimed but never sent."""
    now = now or timezone.now()
    return Run(applied=apply_due(now), released=release_ended(now), resent=send_missed(now))


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
