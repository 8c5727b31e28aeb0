"""Emergency stop per site: one action stops every session and every connector.

`stop_site` records who stopped the site and why (EmergencyStop, the audit record), then
sends every charger on the site, in parallel, RemoteStopTransaction for each running
session and ChangeAvailability Inoperative for the whole charger (connector 0, OCPP 1.6
§5.2); `release_site` sends ChangeAvailability Operative. Each charger's answer, or why
there was none, is kept in `EmergencyStop.results`:

    {"CP-1": {"stop": {"<session id>": {"answer": "Accepted"}},
              "availability": {"answer": "Accepted", "at": "..."},
              "release": {"error": "The charger is offline right now.", "at": "..."}}}

While a site is stopped nobody may start there (`charge_point_refusal`, one of
settings.CHARGE_POINT_POLICIES: Authorize and StartTransaction answer Blocked, a remote
start is refused). A charger that was offline or did not answer gets the stop when it
boots again, through settings.OCPP_AFTER_BOOT: `after_boot` here stops its sessions,
operations.availability.after_boot makes it Inoperative (or Operative when it missed
the release); `record_boot_answer` adds those answers to the audit.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ocpp.v16 import call

from chargehub.compiled_queries import CompiledQuery
from operations import availability
from operations.models import EmergencyStop
from stations import operations
from stations.models import ChargePoint, ChargerCommand, ChargingSession, Site
from stations.ocpp import after_boot as boot
from stations.ocpp import commands

# ChargerCommand.source of the commands sent here (availability knows it as its own).
SOURCE = availability.EMERGENCY_SOURCE
# What a charger answers when it will do as asked (OCPP 1.6 §7.3 AvailabilityStatus:
# Scheduled is "once the transaction running now has ended").
DONE = {"Accepted", "Scheduled"}
# What drivers are told, at the charger's door and at the portal's and the API's.
OUT_OF_SERVICE = gettext_lazy("This site is out of service.")
# Why a charger was not released: a maintenance window holds it until it ends.
UNDER_MAINTENANCE = gettext_lazy("Still under maintenance: made Operative when it ends.")


class EmergencyStopRefused(Exception):
    """The site is not in the state the action needs; `stop` is its current state."""

    def __init__(self, message: str, stop: EmergencyStop | None) -> None:
        super().__init__(message)
        self.stop = stop


class AlreadyStopped(EmergencyStopRefused):
    pass


class NotStopped(EmergencyStopRefused):
    pass


def current_stop(site_id: int | None) -> EmergencyStop | None:
    """The site's emergency stop in force, if any."""
    if site_id is None:
        return None
    return EmergencyStop.objects.filter(site_id=site_id, released_at__isnull=True).first()


def stopped_site_ids(site_ids: list[int]) -> set[int]:
    """Which of these sites are stopped now (one query, for lists of sites)."""
    return set(
        EmergencyStop.objects.filter(site_id__in=site_ids, released_at__isnull=True).values_list(
            "site_id", flat=True
        )
    )


def site_refusal(site_id: int | None) -> str | None:
    """What drivers are told about a site stopped in an emergency, or None."""
    if current_stop(site_id) is not None:
        return str(OUT_OF_SERVICE)
    return None


def charge_point_refusal(charge_point: ChargePoint) -> str | None:
    """A CHARGE_POINT_POLICIES function: nobody starts on a site stopped in an emergency.

    The site is read with the stop (one query), not from `charge_point`: a charger's
    consumer holds its row from when the socket opened, and staff may have moved it.
    Asked at every Authorize, StartTransaction and boot: its SQL is built once per process
    (STOP_IN_FORCE).
    """
    stopped = STOP_IN_FORCE.exists(charge_point=charge_point.pk)
    return str(OUT_OF_SERVICE) if stopped else None


# charge_point_refusal's question: a stop in force on the charger's site.
STOP_IN_FORCE = CompiledQuery(
    lambda charge_point: EmergencyStop.objects.filter(
        site__charge_points=charge_point, released_at__isnull=True
    )
)


def connector_count(site: Site) -> int:
    """The connectors a stop makes Inoperative (connector 0 is the charger itself)."""
    counted = Site.objects.filter(pk=site.pk).aggregate(
        n=Count(
            "charge_points__connectors",
            filter=Q(charge_points__connectors__connector_id__gt=0),
        )
    )
    return counted["n"]


def stop_site(site: Site, reason: str, by: Any) -> EmergencyStop:
    """Stop every session on the site and make every connector Inoperative.

    The stop is recorded (and committed) first: from then on no one may start there and
    a charger that boots gets the stop, even while the commands are still on their way.
    Raises ValueError without a reason, AlreadyStopped when the site is stopped already.
    """
    reason = reason.strip()
    if not reason:
        raise ValueError(_("Give the reason for the emergency stop."))
    user = by if getattr(by, "is_authenticated", False) else None
    try:
        with transaction.atomic():
            stop = EmergencyStop.objects.create(site=site, reason=reason, started_by=user)
    except IntegrityError:
        # One stop in force per site (the database's constraint, across processes).
        raise AlreadyStopped(_("This site is stopped already."), current_stop(site.pk)) from None
    charge_points = list(site.charge_points.values_list("charge_point_id", flat=True))
    results = commands.from_sync_code(_each_charger)(charge_points, _stop_charger, user)
    return _record(stop.pk, {cp: {"stop": r[0], "availability": r[1]} for cp, r in results})


def release_site(site: Site, by: Any) -> EmergencyStop:
    """End the site's emergency stop: every charger is asked to be Operative again,
    except one a maintenance window still holds (it is told when the window ends).

    Released first, so drivers may start as soon as a charger says yes. A charger that
    does not get the release now gets it when it boots again (availability.after_boot).
    Raises NotStopped when the site is not stopped.
    """
    user = by if getattr(by, "is_authenticated", False) else None
    with transaction.atomic():
        stop = (
            EmergencyStop.objects.select_for_update()
            .filter(site=site, released_at__isnull=True)
            .first()
        )
        if stop is None:
            raise NotStopped(_("This site is not stopped."), None)
        stop.released_at = timezone.now()
        stop.released_by = user
        stop.save(update_fields=["released_at", "released_by"])
    free, held = [], []
    for charge_point in site.charge_points.all():
        (held if availability.is_held(charge_point) else free).append(charge_point)
    results = commands.from_sync_code(_each_charger)(
        [cp.charge_point_id for cp in free], _release_charger, user
    )
    in_maintenance = {"error": str(UNDER_MAINTENANCE), "at": timezone.now().isoformat()}
    results += [(cp.charge_point_id, in_maintenance) for cp in held]
    return _record(stop.pk, {cp: {"release": result} for cp, result in results})


def after_boot(charge_point: ChargePoint) -> list[Any]:
    """An OCPP_AFTER_BOOT hook, before availability's Inoperative: a charger back on a
    stopped site is asked to stop the sessions it may still run (Inoperative with a
    transaction running would only be Scheduled, §5.2)."""
    if charge_point_refusal(charge_point) is None:
        return []
    return [
        call.RemoteStopTransaction(transaction_id=pk)
        for pk in _active_sessions(charge_point.charge_point_id)
    ]


def record_boot_answer(command: ChargerCommand) -> None:
    """Add what a charger answered after it booted to the audit of its site's stop: the
    stop in force, or the last one when it was the release that the charger missed."""
    if command.source != boot.SOURCE or command.action not in (
        "ChangeAvailability",
        "RemoteStopTransaction",
    ):
        return
    site_id = command.charge_point.site_id
    stop = EmergencyStop.objects.filter(site_id=site_id).first() if site_id else None
    if stop is None:
        return
    charge_point_id = command.charge_point.charge_point_id
    operative = command.payload.get("type") == availability.OPERATIVE
    if operative == stop.is_active:
        return  # Inoperative after the release, Operative while stopped: not this stop's
    if operative and _done(stop.results.get(charge_point_id, {}).get("release")):
        return  # released long ago: this Operative ends something else (maintenance)
    if command.status == ChargerCommand.Status.ANSWERED:
        outcome = {"answer": (command.response or {}).get("status", "")}
    else:
        outcome = {"error": str(command.get_status_display())}
    outcome |= {"at": command.answered_at.isoformat(), "on_boot": True}
    if command.action == "RemoteStopTransaction":
        result = {"stop": {str(command.payload.get("transactionId")): outcome}}
    else:
        result = {"release" if operative else "availability": outcome}
    _record(stop.pk, {charge_point_id: result})


@dataclass(frozen=True)
class ChargerResult:
    """One charger's line in the audit, as shown in admin and the API."""

    charge_point_id: str
    stop: str
    availability: str
    release: str
    # The charger said it will do it (Accepted, Scheduled).
    availability_done: bool
    release_done: bool


def describe(stop: EmergencyStop) -> list[ChargerResult]:
    """Each charger's answers in words: "Accepted", or why there was none."""
    lines = []
    for charge_point_id, result in sorted(stop.results.items()):
        sessions = result.get("stop") or {}
        stopped = ", ".join(
            _("session %(id)s: %(outcome)s") % {"id": pk, "outcome": _words(outcome)}
            for pk, outcome in sessions.items()
        )
        lines.append(
            ChargerResult(
                charge_point_id,
                stopped or (_("no session") if "stop" in result else ""),
                _words(result.get("availability")),
                _words(result.get("release")),
                _done(result.get("availability")),
                _done(result.get("release")),
            )
        )
    return lines


def _words(outcome: dict[str, Any] | None) -> str:
    if not outcome:
        return ""
    text = outcome.get("answer") or outcome.get("error", "")
    if outcome.get("on_boot"):
        text = _("%(outcome)s (when it booted again)") % {"outcome": text}
    return text


def _done(outcome: dict[str, Any] | None) -> bool:
    return bool(outcome) and outcome.get("answer") in DONE


# --- Talking to the chargers ---------------------------------------------------------------


async def _each_charger(charge_point_ids: list[str], work: Any, user: Any) -> list[Any]:
    """Run `work` for every charger at once: a site of 20 chargers takes one command
    timeout, not 20."""
    outcomes = await asyncio.gather(*(work(cp, user) for cp in charge_point_ids))
    return list(zip(charge_point_ids, outcomes, strict=True))


async def _send(charge_point_id: str, request: Any, user: Any) -> dict[str, Any]:
    """The charger's answer, or the failure's message as every page words it."""
    at = timezone.now().isoformat()
    try:
        answer = await commands.send(charge_point_id, request, issued_by=user, source=SOURCE)
    except commands.CommandError as error:
        return {"error": operations.command_failure(error).message, "at": at}
    return {"answer": answer.status, "at": at}


def _active_sessions(charge_point_id: str) -> list[int]:
    return list(
        ChargingSession.objects.filter(
            charge_point__charge_point_id=charge_point_id, status=ChargingSession.Status.ACTIVE
        ).values_list("pk", flat=True)
    )


async def _stop_charger(
    charge_point_id: str, user: Any
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """RemoteStop every running session, then Inoperative for the whole charger.

    In this order: Inoperative with a transaction running is only Scheduled (§5.2).
    """
    stopped = {}
    for pk in await database_sync_to_async(_active_sessions)(charge_point_id):
        stopped[str(pk)] = await _send(
            charge_point_id, call.RemoteStopTransaction(transaction_id=pk), user
        )
    inoperative = call.ChangeAvailability(connector_id=0, type=availability.INOPERATIVE)
    return stopped, await _send(charge_point_id, inoperative, user)


async def _release_charger(charge_point_id: str, user: Any) -> dict[str, Any]:
    operative = call.ChangeAvailability(connector_id=0, type=availability.OPERATIVE)
    return await _send(charge_point_id, operative, user)


def _record(stop_pk: int, results: dict[str, dict[str, Any]]) -> EmergencyStop:
    """Merge chargers' results into the stop's; locked, since chargers that boot at the
    same time add theirs at the same time."""
    with transaction.atomic():
        stop = EmergencyStop.objects.select_for_update().get(pk=stop_pk)
        merged = dict(stop.results)
        for charge_point_id, result in results.items():
            previous = merged.get(charge_point_id, {})
            if "stop" in result and "stop" in previous:
                result = {**result, "stop": {**previous["stop"], **result["stop"]}}
            merged[charge_point_id] = {**previous, **result}
        stop.results = merged
        stop.save(update_fields=["results"])
    return stop
