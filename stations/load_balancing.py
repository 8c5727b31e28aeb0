"""Smart charging of a site: read it, allocate (stations/smart_charging.py), push profiles.

Triggers (stations/receivers.py; the limits' own doors: the API, admin, and the minute
task for time-of-day limits and expiring dynamic limits) call
`stations.tasks.allocate_soon()`: it marks the site asked for (`mark_requested`) and
queues `stations.tasks.allocate_site` after SMART_CHARGING_DEBOUNCE seconds, so that a
burst of events makes one run. A run claims the site by a conditional UPDATE
(`SiteAllocationRun.running_since`, a lease): one run per site at a time, in any
process; one asked for during a run makes the run go round once more.

A run reads the site (its limit now, its connectors, their sessions, what their
chargers accepted and their cars draw), allocates, stores the outcome per connector
(`ConnectorAllocation`), and sends SetChargingProfile (a TxProfile for the transaction,
OCPP 1.6 §5.16) to every connector whose limit changes: every lowering first, all
chargers at once, then, once they have all accepted, every raise. A charger that
refuses, or does not answer twice, is counted at its maximum from then on and flagged
to staff (`profile_status`); a lowering that failed makes the run start again before
anything is raised. A charger that boots on a managed site gets a TxDefaultProfile
(`after_boot`, one of OCPP_AFTER_BOOT): SMART_CHARGING_DEFAULT_AMPS, the current a
session starts under before its own allocation arrives, counted for every idle
connector, so that the sum stays under the limit even then.

Priorities come from other apps (customer groups live in billing): stations asks the
function named in SMART_CHARGING_PRIORITIES, as it asks CHARGING_POLICIES about tokens.

A driver's cheap-hour plan (`ChargingPlan`, written by charging/cheap_hours.py with the
start) caps its session at the plan's power now (`plan_cap`: 0 A outside its quarters);
the run stores the plan's next boundary, when the minute task runs the site again
(`plans_changing`). Each run also stores what the cars draw against the limit
(`record_load`, kept LOAD_HISTORY) for the site admin's chart.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from functools import cache
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from ocpp.v16 import call

from stations import bookings, signals, site_limits
from stations.models import (
    ChargePoint,
    ChargerCommand,
    ChargingPlan,
    ChargingSession,
    Connector,
    ConnectorAllocation,
    MeterSample,
    Site,
    SiteAllocationRun,
    SiteLoadSample,
)
from stations.ocpp import commands
from stations.smart_charging import (
    PHASES,
    ConnectorDemand,
    SiteLimit,
    allocate,
    connector_phases,
    tenths,
)

logger = logging.getLogger(__name__)

SOURCE = "smart charging"  # ChargerCommand.source
# Profile ids: ours, one per connector, so a new profile replaces the last (§5.16.1).
DEFAULT_PROFILE_ID = 1000
TX_PROFILE_ID = 1001
# A run that takes longer than this is taken to have died: another may claim the site.
LEASE = timedelta(minutes=5)
# Rounds a run adds when profiles did not get through (see run()).
EXTRA_ROUNDS = 3
CURRENT = "Current.Import"  # OCPP 1.6 §7.31 Measurand: the current to the car
# A driver's plan waits this long for its session to start (RemoteStart, then the car).
PLAN_CLAIM_WINDOW = timedelta(minutes=10)
# How long each run's measured load is kept (the site admin's chart shows the last day).
LOAD_HISTORY = timedelta(days=7)

Key = tuple[str, int]  # (charge point id, connector id)
# What a run writes of a ConnectorAllocation.
OWN_FIELDS = [
    "session",
    "cap_amps",
    "limit_amps",
    "accepted_amps",
    "waiting",
    "priority",
    "profile_status",
    "profile_error",
    "updated_at",
]


@cache
def _hook(path: str) -> Callable[[list[ChargingSession]], dict[int, int]]:
    return import_string(path)


def priorities(sessions: list[ChargingSession]) -> dict[int, int]:
    """{session pk: priority} from settings.SMART_CHARGING_PRIORITIES (0 when unset)."""
    if not sessions or not settings.SMART_CHARGING_PRIORITIES:
        return {}
    return _hook(settings.SMART_CHARGING_PRIORITIES)(sessions)


def site_limit(site: Site, amps: Decimal) -> SiteLimit:
    return SiteLimit(
        amps=amps,
        phases=site.phases,
        min_amps=site_limits.min_amps(site),
        default_amps=Decimal(str(settings.SMART_CHARGING_DEFAULT_AMPS)),
        lend_margin=Decimal(str(settings.SMART_CHARGING_LEND_MARGIN_AMPS)),
    )


def max_amps(connector: Connector, phases: int) -> Decimal:
    """A connector's most, in amps per phase, from its rated power."""
    volts = Decimal(str(settings.SMART_CHARGING_VOLTAGE))
    return Decimal(tenths(connector.max_power_kw * 1000 / (volts * phases))) / 10


def max_watts(connector: Connector, charge_point: ChargePoint) -> int:
    """The most the allocation can give the connector, in W (`max_amps` on each phase):
    a cheap-hour plan on a managed site is made at this, so that its energy is met."""
    volts = Decimal(str(settings.SMART_CHARGING_VOLTAGE))
    return int(max_amps(connector, charge_point.phases) * volts * charge_point.phases)


def wired_phases(charge_point: ChargePoint) -> frozenset[int]:
    if charge_point.phases >= 3:
        return frozenset(PHASES)
    return frozenset([charge_point.first_phase])


# --- Asking for a run ----------------------------------------------------------------------


def is_managed(site_id: int | None) -> bool:
    """Whether smart charging shares the site's limit: it has a grid limit."""
    return (
        site_id is not None
        and Site.objects.filter(pk=site_id, grid_limit_amps__isnull=False).exists()
    )


def mark_requested(site_id: int | None) -> bool:
    """Mark the site asked for; False for a site that is not managed (no run needed).

    Queueing the run is the caller's: stations.tasks.allocate_soon().
    """
    if site_id is None or not is_managed(site_id):
        return False
    now = timezone.now()
    if not SiteAllocationRun.objects.filter(pk=site_id).update(requested_at=now):
        SiteAllocationRun.objects.get_or_create(site_id=site_id, defaults={"requested_at": now})
    return True


def run(site_id: int) -> int:
    """Run the site's allocation while it is asked for; return how many runs it took.

    A run whose profiles did not all get through goes round again, at most
    EXTRA_ROUNDS times in a row: a charger that keeps failing is counted at its maximum
    by then (flagged), or is offline, and the site's next event runs it again.
    """
    runs = extra = 0
    while _claim(site_id):
        try:
            again = allocate_site(Site.objects.get(pk=site_id))
        finally:
            SiteAllocationRun.objects.filter(pk=site_id).update(running_since=None)
        runs += 1
        extra = extra + 1 if again else 0
        if again and extra <= EXTRA_ROUNDS:
            SiteAllocationRun.objects.filter(pk=site_id).update(requested_at=timezone.now())
    return runs


def _claim(site_id: int) -> bool:
    now = timezone.now()
    free = Q(running_since__isnull=True) | Q(running_since__lt=now - LEASE)
    return bool(
        SiteAllocationRun.objects.filter(free, pk=site_id, requested_at__isnull=False).update(
            running_since=now, requested_at=None
        )
    )


# --- One run -------------------------------------------------------------------------------


@dataclass
class Slot:
    """A connector of the site with what the run needs of it."""

    connector: Connector
    charge_point: ChargePoint
    session: ChargingSession | None
    allocation: ConnectorAllocation
    # The driver's cheap-hour plan for the running session, if they gave one.
    plan: ChargingPlan | None = None

    @property
    def key(self) -> Key:
        return (self.charge_point.charge_point_id, self.connector.connector_id)


def read_site(site: Site, now: datetime) -> list[Slot]:
    """Every connector of the site, its running session and its allocation row."""
    connectors = list(
        Connector.objects.filter(charge_point__site=site, connector_id__gt=0).select_related(
            "charge_point"
        )
    )
    running = {
        s.connector_id: s
        for s in ChargingSession.objects.filter(
            connector__in=connectors, status=ChargingSession.Status.ACTIVE
        ).select_related("id_token")
    }
    rows = {a.connector_id: a for a in ConnectorAllocation.objects.filter(connector__in=connectors)}
    slots = []
    for connector in connectors:
        allocation = rows.get(connector.pk) or ConnectorAllocation(connector=connector)
        session = running.get(connector.pk)
        if session is not None and allocation.session_id != session.pk:
            # A new session starts afresh: under the default profile, and its charger
            # gets another chance to accept (a refusal counted the last one at max).
            allocation.session = session
            allocation.accepted_amps = None
            allocation.drawn_amps = None
            allocation.profile_status = ConnectorAllocation.ProfileStatus.NONE
            allocation.profile_error = ""
            allocation.waiting = False
        elif session is None:
            allocation.session = None
        slots.append(Slot(connector, connector.charge_point, session, allocation))
    plans = claim_plans([slot.session for slot in slots if slot.session is not None], now)
    for slot in slots:
        slot.plan = plans.get(slot.session.pk) if slot.session is not None else None
    return slots


def claim_plans(sessions: list[ChargingSession], now: datetime) -> dict[int, ChargingPlan]:
    """{session pk: its plan}: plans already claimed, and for a session without one the
    newest plan made for its connector and id tag within PLAN_CLAIM_WINDOW, claimed by a
    conditional UPDATE (a plan drives one session only)."""
    if not sessions:
        return {}
    plans = {p.session_id: p for p in ChargingPlan.objects.filter(session__in=sessions)}
    unclaimed = [s for s in sessions if s.pk not in plans]
    if unclaimed:
        waiting = ChargingPlan.objects.filter(
            session=None,
            connector_id__in=[s.connector_id for s in unclaimed],
            created_at__gte=now - PLAN_CLAIM_WINDOW,
        ).order_by("-created_at")
        for plan in waiting:
            for session in unclaimed:
                mine = (session.connector_id, session.id_tag) == (plan.connector_id, plan.id_tag)
                if session.pk in plans or not mine:
                    continue
                if ChargingPlan.objects.filter(pk=plan.pk, session=None).update(session=session):
                    plan.session = session
                    plans[session.pk] = plan
    return plans


def plan_watts(periods: list[dict[str, Any]], at: datetime) -> int | None:
    """The plan's watts at `at`; None outside it (before its start, after the departure):
    the plan no longer holds the car back."""
    for period in periods:
        if datetime.fromisoformat(period["start"]) <= at < datetime.fromisoformat(period["end"]):
            return int(period["watts"])
    return None


def plan_next_change(periods: list[dict[str, Any]], at: datetime) -> datetime | None:
    """The plan's first period boundary after `at` (its end included), None once over."""
    for period in periods:
        for edge in (period["start"], period["end"]):
            if (moment := datetime.fromisoformat(edge)) > at:
                return moment
    return None


def plan_cap(slot: Slot, limit: SiteLimit, now: datetime) -> Decimal | None:
    """The plan's watts now as the connector's cap in amps per phase (as `max_amps`
    converts its rated power): 0 A outside the planned hours, so that the others get the
    room; a planned trickle below the minimum rounds up to it (a car cannot charge below
    it, and a few watts more only fill it sooner). None: no plan in force, no cap."""
    if slot.plan is None:
        return None
    watts = plan_watts(slot.plan.periods, now)
    if watts is None:
        return None
    volts = Decimal(str(settings.SMART_CHARGING_VOLTAGE))
    # Rounded up: the plan's energy is met (the connector's maximum still bounds it).
    cap = (Decimal(watts) / (volts * slot.charge_point.phases)).quantize(
        Decimal("0.1"), rounding=ROUND_CEILING
    )
    return max(cap, limit.min_amps) if cap > 0 else Decimal(0)


def demands(
    site: Site, slots: list[Slot], now: datetime, limit: SiteLimit | None = None
) -> list[ConnectorDemand]:
    limit = limit or site_limit(site, Decimal(0))
    ranks = priorities([slot.session for slot in slots if slot.session is not None])
    # A booked connector's share is held for its booker from the slot's start.
    booked = bookings.booked_slots(
        [slot.connector.pk for slot in slots], now, now + timedelta(microseconds=1)
    )
    refused = {ConnectorAllocation.ProfileStatus.REJECTED, ConnectorAllocation.ProfileStatus.FAILED}
    result = []
    for slot in slots:
        a = slot.allocation
        # The driver's plan caps the session now; the run owns the cap (stored with it).
        a.cap_amps = plan_cap(slot, limit, now)
        result.append(
            ConnectorDemand(
                key=slot.key,
                phases=wired_phases(slot.charge_point),
                max_amps=max_amps(slot.connector, slot.charge_point.phases),
                priority=ranks.get(slot.session.pk, 0) if slot.session else 0,
                arrived_at=slot.session.started_at if slot.session else None,
                running=slot.session is not None,
                online=slot.charge_point.is_online(now),
                rejected=slot.session is not None and a.profile_status in refused,
                previous_amps=a.accepted_amps,
                drawn_amps=a.drawn_amps,
                cap_amps=a.cap_amps,
                reserved_from=booked[slot.connector.pk][0].starts_at
                if slot.connector.pk in booked
                else None,
            )
        )
    return result


def allocate_site(site: Site, now: datetime | None = None) -> bool:
    """One run for a site; True when it must run again (a lowering failed)."""
    now = now or timezone.now()
    amps = site_limits.limit_now(site, now)
    if amps is None:
        return False
    slots = read_site(site, now)
    limit = site_limit(site, amps)
    asked = demands(site, slots, now, limit)
    wanted = allocate(limit, asked, now)
    by_key = {slot.key: slot for slot in slots}
    priority = {d.key: d.priority for d in asked}
    for slot in slots:
        a = slot.allocation
        a.limit_amps = wanted.limits.get(slot.key, wanted.fixed.get(slot.key))
        if slot.session is not None and slot.key in wanted.waiting and not a.waiting:
            # The driver is told (notifications listens), once each time it starts waiting.
            signals.announce(signals.session_waiting, ChargingSession, session=slot.session)
        a.waiting = slot.key in wanted.waiting
        a.priority = priority[slot.key]
        if a._state.adding:
            a.save()
        else:
            # Not drawn_amps: MeterValues write it meanwhile.
            a.save(update_fields=[*OWN_FIELDS, *(["drawn_amps"] if a.drawn_amps is None else [])])
    SiteAllocationRun.objects.filter(pk=site.pk).update(
        ran_at=now,
        limit_amps=amps,
        outcome={
            "load": {str(p): str(v) for p, v in wanted.load.items()},
            "waiting": len(wanted.waiting),
            "over_limit": wanted.over_limit,
        },
    )
    record_load(site, amps, now)
    for slot in slots:
        if slot.plan is not None:
            # The minute task runs the site again when the plan's next period begins.
            ChargingPlan.objects.filter(pk=slot.plan.pk).update(
                next_change_at=plan_next_change(slot.plan.periods, now)
            )
    if wanted.waiting:
        logger.warning(
            "Site %s: %d session(s) wait, %s A cannot serve everyone",
            site.pk,
            len(wanted.waiting),
            amps,
        )
    default = limit.default_amps
    holds = {
        key: by_key[key].allocation.accepted_amps
        if by_key[key].allocation.accepted_amps is not None
        else default
        for key in wanted.limits
    }
    # A booked connector without a session yet has its share held, nothing to send: its
    # TxProfile follows when its session starts (a run on session start).
    pushed = {k: v for k, v in wanted.limits.items() if by_key[k].session is not None}
    lower = [k for k, v in pushed.items() if v < holds[k]]
    raised = [
        k
        for k, v in pushed.items()
        if v > holds[k] or (v == holds[k] and by_key[k].allocation.accepted_amps is None)
    ]
    failed = commands.from_sync_code(_push)([by_key[k] for k in lower], wanted.limits)
    if failed:
        return True  # counted at their maximum now: allocate again before raising
    # A raise that did not get through (a charger slow to acknowledge) leaves its car
    # at less than its share, which is safe; another round tries it again.
    return bool(commands.from_sync_code(_push)([by_key[k] for k in raised], wanted.limits))


async def _push(slots: list[Slot], limits: dict[Key, Decimal]) -> int:
    """Send each slot its TxProfile, all chargers at once; return how many failed."""
    outcomes = await asyncio.gather(*(_send_profile(slot, limits[slot.key]) for slot in slots))
    return sum(1 for ok in outcomes if not ok)


def tx_profile(session_id: int, connector_id: int, amps: Decimal) -> call.SetChargingProfile:
    return call.SetChargingProfile(
        connector_id=connector_id,
        cs_charging_profiles={
            "chargingProfileId": TX_PROFILE_ID,
            "transactionId": session_id,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": float(amps)}],
            },
        },
    )


async def _send_profile(slot: Slot, amps: Decimal) -> bool:
    """One TxProfile, retried once on an error; the outcome stored on the allocation."""
    assert slot.session is not None
    request = tx_profile(slot.session.pk, slot.connector.connector_id, amps)
    a = slot.allocation
    error = ""
    for _attempt in range(2):
        try:
            answer = await commands.send(slot.charge_point.charge_point_id, request, source=SOURCE)
        except commands.ChargerOffline as offline:
            # Its last profile holds on the charger; counted as it was (allocate()).
            error = str(offline)
            break
        except commands.CommandError as failure:
            error = str(failure)
            continue
        if answer.status == "Accepted":
            a.accepted_amps = amps
            a.profile_status = ConnectorAllocation.ProfileStatus.ACCEPTED
            a.profile_error = ""
        else:
            a.profile_status = ConnectorAllocation.ProfileStatus.REJECTED
            a.profile_error = answer.status
            logger.warning("%s refused its charging profile: %s", slot.key, answer.status)
        await database_sync_to_async(_save_outcome)(a)
        return answer.status == "Accepted"
    else:
        a.profile_status = ConnectorAllocation.ProfileStatus.FAILED
        logger.warning("%s: charging profile failed twice: %s", slot.key, error)
    a.profile_error = error[:300]
    await database_sync_to_async(_save_outcome)(a)
    return False


def _save_outcome(allocation: ConnectorAllocation) -> None:
    ConnectorAllocation.objects.filter(pk=allocation.pk).update(
        accepted_amps=allocation.accepted_amps,
        profile_status=allocation.profile_status,
        profile_error=allocation.profile_error,
    )


def shortfall(site: Site, now: datetime | None = None) -> str:
    """Why some sessions will wait at the site's limit now (it is below the minimum
    times the connectors on a phase), or "": accepted, but staff should know."""
    amps = site_limits.limit_now(site, now)
    minimum = site_limits.min_amps(site)
    if amps is None or minimum <= 0:
        return ""
    limit = site_limit(site, amps)
    per_phase = dict.fromkeys(limit.site_phases, 0)
    counted = ChargePoint.objects.filter(site=site).annotate(
        n=Count("connectors", filter=Q(connectors__connector_id__gt=0))
    )
    for charge_point in counted:
        for p in connector_phases(wired_phases(charge_point), limit):
            per_phase[p] += charge_point.n
    most = int(amps // minimum)
    crowded = max(per_phase.values(), default=0)
    if crowded <= most:
        return ""
    return _(
        "At %(amps)s A per phase, %(most)s of the %(count)s connectors on a phase can "
        "charge at once (%(minimum)s A each); the others wait."
    ) % {"amps": amps, "most": most, "count": crowded, "minimum": minimum}


def measured_load(site: Site) -> dict[int, Decimal]:
    """What the cars on the site draw now, per phase: the sum of their last Current.Import
    (running sessions with a measurement only), to set against the limit."""
    limit = site_limit(site, Decimal(0))
    load = dict.fromkeys(sorted(limit.site_phases), Decimal(0))
    rows = ConnectorAllocation.objects.filter(
        connector__charge_point__site=site, session__isnull=False, drawn_amps__isnull=False
    ).select_related("connector__charge_point")
    for row in rows:
        for p in connector_phases(wired_phases(row.connector.charge_point), limit):
            load[p] += row.drawn_amps
    return load


def record_load(site: Site, amps: Decimal, now: datetime) -> None:
    """Store what the cars draw now against the limit applied (the admin's chart), and
    drop every sample older than LOAD_HISTORY (a site no longer managed included): one
    indexed delete per run keeps the table bounded without a task of its own."""
    drawn = measured_load(site)
    SiteLoadSample.objects.create(
        site=site,
        measured_at=now,
        limit_amps=amps,
        drawn_l1=drawn[1],
        drawn_l2=drawn.get(2),
        drawn_l3=drawn.get(3),
    )
    SiteLoadSample.objects.filter(measured_at__lt=now - LOAD_HISTORY).delete()


def load_history(site: Site, since: datetime) -> dict[str, Any]:
    """The site's samples since `since` as a chart's series: times (ISO, UTC), the limit
    and the draw per phase the site has, in amps (floats: only drawn, never summed)."""
    rows = list(SiteLoadSample.objects.filter(site=site, measured_at__gte=since))
    phases = sorted(site_limit(site, Decimal(0)).site_phases)
    return {
        "times": [row.measured_at.isoformat() for row in rows],
        "limit": [float(row.limit_amps) for row in rows],
        "drawn": {
            f"L{p}": [
                None if (v := getattr(row, f"drawn_l{p}")) is None else float(v) for row in rows
            ]
            for p in phases
        },
    }


def profiles_sent(site: Site, count: int = 20) -> list[dict[str, Any]]:
    """The last charging profiles sent to the site's chargers (smart charging's TxProfiles,
    the TxDefaultProfile after boot, staff's own) and the chargers' answers."""
    commands_sent = ChargerCommand.objects.filter(
        charge_point__site=site, action="SetChargingProfile"
    ).select_related("charge_point")[:count]
    rows = []
    for command in commands_sent:
        profile = command.payload.get("csChargingProfiles", {})
        periods = profile.get("chargingSchedule", {}).get("chargingSchedulePeriod", [{}])
        rows.append(
            {
                "at": command.created_at,
                "connector": f"{command.charge_point.charge_point_id}#"
                f"{command.payload.get('connectorId', '')}",
                "purpose": profile.get("chargingProfilePurpose", ""),
                "limit": periods[0].get("limit") if periods else None,
                "answer": (command.response or {}).get("status")
                or command.error
                or command.get_status_display(),
            }
        )
    return rows


# --- Events --------------------------------------------------------------------------------


def after_boot(charge_point: ChargePoint) -> list[Any]:
    """An OCPP_AFTER_BOOT hook: on a managed site, the TxDefaultProfile every session
    starts under (on connector 0: every connector, §5.16.2)."""
    if charge_point.site_id is None:
        return []  # no site, nothing managed: no query (a storm's boots ask it each)
    site = Site.objects.filter(pk=charge_point.site_id, grid_limit_amps__isnull=False).first()
    if site is None:
        return []
    amps = Decimal(str(settings.SMART_CHARGING_DEFAULT_AMPS))
    return [
        call.SetChargingProfile(
            connector_id=0,
            cs_charging_profiles={
                "chargingProfileId": DEFAULT_PROFILE_ID,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": float(amps)}],
                },
            },
        )
    ]


def note_draw(session: ChargingSession, samples: list[MeterSample] | None = None) -> bool:
    """After MeterValues: store what the car draws (the highest phase of the last
    Current.Import); True when it changed by the lending margin or more (a run is due).

    Cheap on every MeterValues: `samples` (the ones the call carried) without a Current.Import
    end it without a query (the session's readings are the ones the last call read);
    one query ends it for a session smart charging does not manage (no allocation row),
    one more reads the last reading of its phases.
    """
    if samples is not None and not any(
        sample.measurand == CURRENT and sample.value_decimal is not None for sample in samples
    ):
        return False
    row = ConnectorAllocation.objects.filter(connector_id=session.connector_id, session=session)
    found = list(row.values_list("drawn_amps", flat=True)[:1])
    if not found:
        return False  # not on a managed site (or its first run has not happened yet)
    readings = list(
        MeterSample.objects.filter(session=session, measurand=CURRENT, value_decimal__isnull=False)
        .order_by("-timestamp")
        .values_list("timestamp", "value_decimal")[:4]  # L1, L2, L3 and a total, at most
    )
    if not readings:
        return False
    latest = readings[0][0]
    drawn = Decimal(tenths(max(v for at, v in readings if at == latest))) / 10
    before = found[0]
    row.update(drawn_amps=drawn)
    if drawn != before:
        _announce_if_over(session.charge_point.site_id)
    margin = Decimal(str(settings.SMART_CHARGING_LEND_MARGIN_AMPS))
    return before is None or abs(drawn - before) >= margin


def _announce_if_over(site_id: int | None) -> None:
    """Tell listeners (after commit) when what the cars draw now exceeds the site's limit
    on a phase: a car ignoring its profile, or a charger that never got it."""
    site = Site.objects.filter(pk=site_id).first()
    limit = site_limits.limit_now(site) if site is not None else None
    if limit is None:
        return
    load = measured_load(site)
    if any(amps > limit for amps in load.values()):
        signals.announce(signals.site_over_limit, Site, site=site, load=load, limit_amps=limit)


def plans_changing(now: datetime | None = None) -> list[int]:
    """The managed sites where a running session's plan reached a period boundary since
    its last run: its cap changes (charging starts or pauses by the plan)."""
    now = now or timezone.now()
    return list(
        ChargingPlan.objects.filter(
            session__status=ChargingSession.Status.ACTIVE,
            next_change_at__lte=now,
            connector__charge_point__site__grid_limit_amps__isnull=False,
        )
        .values_list("connector__charge_point__site_id", flat=True)
        .distinct()
    )


def changed_limits(now: datetime | None = None) -> list[int]:
    """The managed sites whose limit now differs from the one their last run applied (a
    time-of-day limit began or ended, a dynamic limit lapsed)."""
    now = now or timezone.now()
    changed = []
    sites = Site.objects.filter(grid_limit_amps__isnull=False).select_related("allocation_run")
    for site in sites.prefetch_related("limit_periods"):
        amps = site_limits.limit_now(site, now, list(site.limit_periods.all()))
        run = getattr(site, "allocation_run", None)
        if run is None or run.limit_amps != amps:
            changed.append(site.pk)
    return changed
