"""A charging session's lifecycle and its energy, for every OCPP version.

The version modules (stations/ocpp/v16.py, a v201.py later) translate their payloads
and call these functions; the periodic rules (stations/liveness.py) call them too.
Listeners hear of a session through stations/signals.py, after the transaction commits,
so none ever sees a session that was rolled back.

The energy of a session, one rule that every figure shown anywhere comes from (receipt,
invoice, CSV export, statistics, emails, live figures, API):

- The readings, in this order: the meter start value at the start; the session's
  Energy.Active.Import.Register samples in time order; the stop value at the stop.
- Only that measurand counts (OCPP 1.6 §7.31: the register of energy delivered to the
  car), and only its total: values per phase, at another location than the outlet,
  signed or not a number, timed before the start or after the stop, or timed by a
  clock the server did not believe (`clock_suspect`: their order is unknown) are left
  out. Power, current, SoC and every other measurand are ignored.
- The energy is the sum of the steps between consecutive readings: a step forward
  counts in full, a step backward counts zero. So a meter reset (replaced or zeroed)
  or a rollover (the register wrapped past its maximum) loses the energy between the
  last reading before it and the reset, and counting resumes from the new reading:
  counting that reading from zero instead would charge a replaced meter's whole
  history. A reading that dips and recovers counts its recovery (a few Wh at most).
- A missing stop value (a rule closed the session, or a transaction ended without a
  meter value): the energy runs to the last reading.
- `ChargingSession.energy_wh` is this sum, rounded to the Wh half up, stored when the
  session closes; pricing takes the same steps interval by interval (`energy_steps`)
  for its time-of-use split.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from itertools import pairwise

from django.db.models import Q, QuerySet

from chargehub.compiled_queries import CompiledQuery, save_fields
from stations import bulk_insert, signals
from stations.authorization import find_token
from stations.models import ChargePoint, ChargingSession, Connector, MeterSample, Reservation

logger = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"  # OCPP 1.6 §7.31 Measurand
WH_PER_UNIT = {"Wh": Decimal(1), "kWh": Decimal(1000)}  # §7.46 UnitOfMeasure
CLOSED_BY_CHARGER = "charger"
# What closing a session writes (its UPDATE names these only, built once: save_fields).
CLOSING_FIELDS = (
    "status",
    "stopped_at",
    "meter_stop_wh",
    "energy_wh",
    "stop_reason",
    "stop_id_tag",
    "closed_by",
    "clock_suspect",
    "updated_at",
)


# --- Energy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnergyStep:
    """Energy the meter shows delivered from one reading to the next."""

    start: datetime
    end: datetime
    wh: Decimal


def energy_steps(readings: Iterable[tuple[datetime, Decimal]]) -> tuple[EnergyStep, ...]:
    """The steps between consecutive readings (Wh), by the rule in the module docstring.

    `readings` are (time, Wh): the start value, the register samples, the stop value.
    They are put in time order; readings at the same instant keep the order given.
    """
    ordered = sorted(readings, key=lambda reading: reading[0])
    return tuple(
        EnergyStep(t0, t1, max(Decimal(0), Decimal(wh1) - Decimal(wh0)))
        for (t0, wh0), (t1, wh1) in pairwise(ordered)
    )


def energy_wh(steps: Iterable[EnergyStep]) -> Decimal:
    """The energy of a session: the sum of its steps."""
    return sum((step.wh for step in steps), Decimal(0))


def energy_kwh(steps: Iterable[EnergyStep]) -> Decimal:
    """The energy of a session in kWh to the Wh (half up), as every page shows it."""
    return (energy_wh(steps) / 1000).quantize(Decimal("0.001"), ROUND_HALF_UP)


def whole_wh(wh: Decimal) -> int:
    """Wh as stored and shown: rounded to the Wh, half up (pricing shows kWh to 0.001)."""
    return int(wh.quantize(Decimal(1), ROUND_HALF_UP))


Sample = tuple[datetime, str, str, Decimal]  # timestamp, measurand, unit, number


def believed_samples(session: ChargingSession, measurands: Iterable[str]) -> list[Sample]:
    """A session's numeric samples of these measurands that the energy rule trusts
    (totals at the outlet, times believed), in time order, in one query.

    Tuples rather than model instances: a long session has thousands of samples, and
    the live session page reads them at each MeterValues (bench/session_figures.py).
    Pricing reads its power samples here too, in the same query as the energy.
    """
    return _believed_samples(tuple(measurands)).fetch(session=session)


def believed_samples_query(session: ChargingSession, measurands: tuple[str, ...]) -> QuerySet:
    """The query of believed_samples() (compiled once per list of measurands)."""
    return (
        MeterSample.objects.filter(session=session)
        .filter(
            measurand__in=list(measurands),
            phase="",
            location__in=["", "Outlet"],  # §7.33: absent means Outlet
            format="Raw",
            value_decimal__isnull=False,
            clock_suspect=False,
        )
        .order_by("timestamp", "id")
        .values_list("timestamp", "measurand", "unit", "value_decimal")
    )


@lru_cache(maxsize=16)  # a few lists in use: the energy's, pricing's, the live figures'
def _believed_samples(measurands: tuple[str, ...]) -> CompiledQuery:
    return CompiledQuery(lambda session: believed_samples_query(session, measurands))


def meter_readings(
    session: ChargingSession, samples: Iterable[Sample] | None = None
) -> list[tuple[datetime, Decimal]]:
    """A session's readings as the energy rule takes them (module docstring), in Wh.

    `samples`: believed_samples() of the session with the energy register among the
    measurands, when the caller has read them already.
    """
    if samples is None:
        samples = believed_samples(session, [ENERGY_REGISTER])
    stopped_at = session.stopped_at
    readings = [(session.started_at, Decimal(session.meter_start_wh))]
    readings += [
        (timestamp, number * WH_PER_UNIT[unit])
        for timestamp, measurand, unit, number in samples
        if measurand == ENERGY_REGISTER
        and unit in WH_PER_UNIT
        and timestamp >= session.started_at
        and (stopped_at is None or timestamp <= stopped_at)
    ]
    if stopped_at is not None and session.meter_stop_wh is not None:
        readings.append((stopped_at, Decimal(session.meter_stop_wh)))
    return readings


def session_energy_wh(session: ChargingSession, samples: list[Sample] | None = None) -> int:
    """The energy of a session as the database holds it now, in whole Wh (`samples` as
    for meter_readings)."""
    return whole_wh(energy_wh(energy_steps(meter_readings(session, samples))))


# --- Lifecycle ---------------------------------------------------------------------------


def open_or_same_query(
    connector: Connector,
    charge_point: ChargePoint,
    id_tag: str,
    meter_start_wh: int,
    started_at: datetime,
) -> QuerySet[ChargingSession]:
    """One query for both: the same start stored before, and the sessions still open on
    the connector (locked: open_session closes them unless this start is a repeated one)."""
    return (
        ChargingSession.objects.select_for_update()
        .filter(connector=connector)
        .filter(
            Q(status=ChargingSession.Status.ACTIVE)
            | Q(
                charge_point=charge_point,
                id_tag=id_tag,
                meter_start_wh=meter_start_wh,
                started_at=started_at,
            )
        )
        .order_by("pk")
    )


# Compiled once: a StartTransaction's read (docs/performance.md).
OPEN_OR_SAME = CompiledQuery(open_or_same_query)


def open_session(
    connector: Connector,
    id_tag: str,
    started_at: datetime,
    meter_start_wh: int,
    *,
    reservation_id: int | None = None,
    clock_suspect: bool = False,
) -> tuple[ChargingSession, bool]:
    """Open a session on a connector; (session, created).

    The same start twice (same connector, tag, meter start and time; a charger resends
    a start whose answer it lost) finds the session it opened: created is False. A
    session still open on the connector was never stopped by its charger: it is closed
    by the "superseded" rule first, since a connector charges one session at a time.
    `clock_suspect`: `started_at` is the server's receive time (the charger's clock was
    not believed), so a resent start finds its session by being the open one flagged so.
    """
    charge_point = connector.charge_point
    active = ChargingSession.Status.ACTIVE
    found = OPEN_OR_SAME.fetch(
        connector=connector,
        charge_point=charge_point,
        id_tag=id_tag,
        meter_start_wh=meter_start_wh,
        started_at=started_at,
    )
    repeated = [
        session
        for session in found
        if session.charge_point_id == charge_point.pk
        and session.id_tag == id_tag
        and session.meter_start_wh == meter_start_wh
    ]
    existing = next((s for s in repeated if s.started_at == started_at), None)
    if existing is None and clock_suspect:
        existing = next((s for s in repeated if s.status == active and s.clock_suspect), None)
    if existing is not None:
        logger.info("Repeated start of session %s", existing.pk)
        return existing, False

    for superseded in found:
        if superseded.status == active:
            close_session_by_rule(
                superseded, "superseded by a new transaction on the connector", started_at
            )

    session = ChargingSession(
        charge_point=charge_point,
        connector=connector,
        id_tag=id_tag,
        id_token=find_token(id_tag),
        reservation_id=reservation_id,
        started_at=started_at,
        meter_start_wh=meter_start_wh,
        clock_suspect=clock_suspect,
    )
    # Skipped, not failed, when the same start raced in on another connection of the
    # same charger: no savepoint to roll back to (its two round trips saved).
    if not bulk_insert.insert_one(session, ignore_conflicts=True):
        # Built here only: building a queryset costs more than this rare read (#17).
        same_start = ChargingSession.objects.filter(
            charge_point=charge_point,
            connector=connector,
            id_tag=id_tag,
            meter_start_wh=meter_start_wh,
            started_at=started_at,
        )
        return same_start.get(), False

    if reservation_id is not None:
        Reservation.objects.filter(pk=reservation_id, charge_point=charge_point).update(
            status=Reservation.Status.USED
        )
    signals.announce(signals.session_started, ChargingSession, session=session)
    return session, True


def close_session(
    session: ChargingSession,
    stopped_at: datetime,
    meter_stop_wh: int | None,
    reason: str,
    *,
    stop_id_tag: str = "",
    clock_suspect: bool = False,
) -> bool:
    """Close a session as its charger says; False for a repeated stop, which changes nothing.

    Store the stop's meter values first: the energy is computed from every reading the
    database holds (the module docstring), never added up as stops arrive, so a
    resent stop cannot count twice. A session a rule closed gets the charger's figures.
    """
    if (
        session.status == ChargingSession.Status.COMPLETED
        and session.closed_by == CLOSED_BY_CHARGER
    ):
        logger.info("Repeated stop of session %s", session.pk)
        return False
    session.stop_reason = reason
    session.stop_id_tag = stop_id_tag
    session.clock_suspect = session.clock_suspect or clock_suspect
    _close(session, stopped_at, meter_stop_wh, CLOSED_BY_CHARGER)
    return True


def close_session_by_rule(session: ChargingSession, rule: str, when: datetime) -> None:
    """Close a session its charger never stopped, as of `when`, from the readings we have.

    Staff see the rule in `closed_by`; a stop from the charger that arrives later still
    replaces these figures with its own (close_session).
    """
    # The stop value is the last reading we have (the start value if none came).
    session.stopped_at = max(when, session.started_at)
    session.meter_stop_wh = None
    samples = believed_samples(session, [ENERGY_REGISTER])  # read once for both uses
    last_reading = meter_readings(session, samples)[-1][1]
    session.stop_reason = "Other"
    _close(session, when, whole_wh(last_reading), rule[:100], samples)
    logger.warning("Session %s closed by rule: %s", session.pk, rule)


def _close(
    session: ChargingSession,
    stopped_at: datetime,
    meter_stop_wh: int | None,
    closed_by: str,
    samples: list[Sample] | None = None,
) -> None:
    session.status = ChargingSession.Status.COMPLETED
    session.stopped_at = max(stopped_at, session.started_at)
    session.meter_stop_wh = meter_stop_wh
    session.closed_by = closed_by
    session.energy_wh = session_energy_wh(session, samples)
    # Every caller read the session locked (select_for_update): its row is there.
    save_fields(session, CLOSING_FIELDS)  # save(update_fields=...), built once
    signals.announce(signals.session_ended, ChargingSession, session=session)


def meter_values_stored(session: ChargingSession, samples: list[MeterSample]) -> None:
    """Tell listeners, after commit, that these meter values of a session were stored."""
    signals.announce(
        signals.meter_values_received, ChargingSession, session=session, samples=samples
    )
