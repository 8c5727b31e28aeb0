"""Whether operations holds a charger out of use, and telling the charger so.

Two things hold a charger Inoperative: a maintenance window covering it now
(operations/maintenance.py) and an active emergency stop of its site (EmergencyStop).
Both send ChangeAvailability for the whole charger (connector 0, OCPP 1.6 §5.2) through
`set_availability`, and a charger that comes back gets what it missed through
`after_boot` (settings.OCPP_AFTER_BOOT): the one place that decides what a booting
charger must be told.
"""

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from ocpp.v16 import call

from chargehub.compiled_queries import CompiledQuery, Param
from operations.models import EmergencyStop, MaintenanceWindow
from stations.models import ChargePoint, ChargerCommand
from stations.ocpp import after_boot as boot
from stations.ocpp import commands

logger = logging.getLogger(__name__)

INOPERATIVE = "Inoperative"
OPERATIVE = "Operative"
# ChargerCommand.source of what operations sends; the after-boot commands are ours too.
MAINTENANCE_SOURCE = "maintenance"
EMERGENCY_SOURCE = "emergency stop"
OUR_SOURCES = (MAINTENANCE_SOURCE, EMERGENCY_SOURCE, boot.SOURCE)


def windows_covering(
    charge_point: ChargePoint, at: datetime, until: datetime | None = None
) -> QuerySet[MaintenanceWindow]:
    """The maintenance windows that hold this charger at `at`, or at any moment from `at`
    to `until` (its own or its site's)."""
    return _covering(charge_point, charge_point.site_id, at, until or at)


def _covering(
    charge_point: ChargePoint | Param,
    site_id: int | Param | None,
    at: datetime | Param,
    until: datetime | Param,
) -> QuerySet[MaintenanceWindow]:
    # windows_covering's query, written once for values and for the Params of WINDOW_COVERING.
    covers = Q(charge_point=charge_point)
    if site_id is not None:
        # Only with a site: Q(site_id=None) would match every charger's window.
        covers |= Q(site_id=site_id)
    return MaintenanceWindow.objects.filter(covers, starts_at__lte=until, ends_at__gt=at)


def is_held(charge_point: ChargePoint, at: datetime | None = None) -> bool:
    """Whether the charger must be Inoperative now: in maintenance, or its site stopped."""
    at = at or timezone.now()
    if _window_covers(charge_point, at):
        return True
    return (
        charge_point.site_id is not None
        and EmergencyStop.objects.filter(
            site_id=charge_point.site_id, released_at__isnull=True
        ).exists()
    )


def _window_covers(charge_point: ChargePoint, at: datetime) -> bool:
    """windows_covering(charge_point, at).exists(), asked at every boot: its SQL is built
    once per process and shape (WINDOW_COVERING: with a site, or without)."""
    return WINDOW_COVERING.exists(charge_point=charge_point, site_id=charge_point.site_id, at=at)


WINDOW_COVERING = CompiledQuery(
    lambda charge_point, site_id, at: _covering(charge_point, site_id, at, at),
    optional=("site_id",),
)


def left_inoperative_by_us(charge_point: ChargePoint) -> bool:
    """Whether the last availability the charger accepted for all its connectors was an
    Inoperative from operations: OCPP 1.6 §5.2 makes it persist across reboots, so a
    charger that missed its Operative (offline at the end) is still out of use.

    Asked at every boot; most chargers never answered a ChangeAvailability, which a query
    built once per process tells (ANSWERED_AVAILABILITY) before the one that reads JSON."""
    if not ANSWERED_AVAILABILITY.exists(charge_point=charge_point):
        return False
    last = (
        ChargerCommand.objects.filter(
            charge_point=charge_point,
            action="ChangeAvailability",
            payload__connectorId=0,
            status=ChargerCommand.Status.ANSWERED,
            response__status__in=["Accepted", "Scheduled"],
        )
        .order_by("-answered_at", "-pk")
        .values("source", "payload")
        .first()
    )
    return (
        last is not None
        and last["source"] in OUR_SOURCES
        and last["payload"].get("type") == INOPERATIVE
    )


# left_inoperative_by_us's first question: any ChangeAvailability the charger answered.
ANSWERED_AVAILABILITY = CompiledQuery(
    lambda charge_point: ChargerCommand.objects.filter(
        charge_point=charge_point,
        action="ChangeAvailability",
        status=ChargerCommand.Status.ANSWERED,
    )
)


def after_boot(charge_point: ChargePoint) -> list[Any]:
    """An OCPP_AFTER_BOOT hook: Inoperative while held; Operative when operations left
    it Inoperative and nothing holds it any more; else nothing."""
    if is_held(charge_point):
        return [call.ChangeAvailability(connector_id=0, type=INOPERATIVE)]
    if left_inoperative_by_us(charge_point):
        return [call.ChangeAvailability(connector_id=0, type=OPERATIVE)]
    return []


def set_availability(
    charge_point_ids: Iterable[str], kind: str, *, source: str, issued_by: Any = None
) -> dict[str, str]:
    """Send ChangeAvailability `kind` for connector 0 to each charger at once; return
    each charger's answer ("Accepted", "Scheduled", "Rejected") or why there was none.

    An offline charger gets it when it boots (after_boot); nothing is retried here.
    """
    ids = list(charge_point_ids)
    if not ids:
        return {}
    return commands.from_sync_code(_send_all)(ids, kind, source, issued_by)


async def _send_all(ids: list[str], kind: str, source: str, issued_by: Any) -> dict[str, str]:
    request = call.ChangeAvailability(connector_id=0, type=kind)

    async def one(charge_point_id: str) -> str:
        try:
            answer = await commands.send(
                charge_point_id, request, issued_by=issued_by, source=source
            )
        except commands.CommandError as error:
            logger.info("%s: %s not delivered: %s", charge_point_id, kind, error)
            return str(error)
        return str(answer.status)

    answers = await asyncio.gather(*(one(charge_point_id) for charge_point_id in ids))
    return dict(zip(ids, answers, strict=True))
