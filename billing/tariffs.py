"""Which tariff applies, and what a session costs: the database side of pricing.

The selection rule, in one place: among the assignments valid at the moment a session
starts (the assignment's and its tariff's validity both), for the connector, its charge
point or its site, one for a customer group of the driver beats one for everyone; then
connector beats charge point beats site; then the one that became valid last wins (a
price change is a new assignment or tariff valid from the moment of the change, so it
applies to sessions starting after it); then the newest. The arithmetic is in
billing/pricing.py.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from billing.models import CustomerGroup, Tariff, TariffAssignment
from billing.pricing import (
    Price,
    SessionUsage,
    TariffTerms,
    TimeOfUse,
    price_session,
    time_of_use_at,
)
from billing.subscriptions import included_kwh_left
from stations.models import ChargingSession, Connector
from stations.sessions import ENERGY_REGISTER, believed_samples, energy_steps, meter_readings
from users.models import User

ACTIVE_POWER = "Power.Active.Import"  # OCPP 1.6 §7.31 Measurand
WATTS_PER_UNIT = {"W": Decimal(1), "kW": Decimal(1000)}
UNIT_PRICE_STEP = Decimal("0.0001")
LEVEL_RANK = {
    TariffAssignment.Level.CONNECTOR: 3,
    TariffAssignment.Level.CHARGE_POINT: 2,
    TariffAssignment.Level.SITE: 1,
}


def valid_at(at: datetime, prefix: str = "") -> Q:
    """Rows (or, with a prefix, related rows) valid at `at`: valid_from <= at < valid_until."""
    return (Q(**{f"{prefix}valid_from__isnull": True}) | Q(**{f"{prefix}valid_from__lte": at})) & (
        Q(**{f"{prefix}valid_until__isnull": True}) | Q(**{f"{prefix}valid_until__gt": at})
    )


def candidate_assignments(
    connector: Connector, user: User | None, at: datetime
) -> list[TariffAssignment]:
    """The assignments that could apply to this driver here at `at`, winner first."""
    charge_point = connector.charge_point
    place = Q(connector=connector) | Q(charge_point=charge_point)
    if charge_point.site_id is not None:
        place |= Q(site_id=charge_point.site_id)
    whom = Q(customer_group__isnull=True)
    if user is not None and user.is_authenticated:
        whom |= Q(customer_group__in=CustomerGroup.objects.filter(members=user))
    assignments = list(
        TariffAssignment.objects.filter(place, whom, valid_at(at), valid_at(at, "tariff__"))
        .select_related("tariff", "customer_group", "site", "charge_point", "connector")
        .prefetch_related("tariff__time_of_use")
    )
    assignments.sort(key=_specificity, reverse=True)
    return assignments


def _specificity(assignment: TariffAssignment) -> tuple[bool, int, datetime, int]:
    earliest = datetime.min.replace(tzinfo=UTC)
    became_valid = max(assignment.valid_from or earliest, assignment.tariff.valid_from or earliest)
    return (
        assignment.customer_group_id is not None,
        LEVEL_RANK[assignment.level],
        became_valid,
        assignment.pk,
    )


def assignment_for(
    connector: Connector, user: User | None, at: datetime
) -> TariffAssignment | None:
    """The assignment that decides the tariff for this driver here at `at`."""
    candidates = candidate_assignments(connector, user, at)
    return candidates[0] if candidates else None


def tariff_for(connector: Connector, user: User | None, at: datetime) -> Tariff | None:
    assignment = assignment_for(connector, user, at)
    return assignment.tariff if assignment else None


def explain(assignment: TariffAssignment) -> str:
    """Why this tariff applies, for drivers and staff."""
    place = f"{assignment.get_level_display()} {assignment.place}"
    if assignment.customer_group_id:
        return gettext("%(tariff)s, set for %(place)s for %(group)s") % {
            "tariff": assignment.tariff,
            "place": place,
            "group": assignment.customer_group,
        }
    return gettext("%(tariff)s, set for %(place)s") % {"tariff": assignment.tariff, "place": place}


def site_time_zone(connector: Connector) -> str:
    site = connector.charge_point.site
    return site.time_zone if site is not None else settings.TIME_ZONE


def session_driver(session: ChargingSession) -> User | None:
    return session.id_token.owner if session.id_token_id and session.id_token else None


def usage_from_session(session: ChargingSession, now: datetime | None = None) -> SessionUsage:
    """A session's times, energy and power as the pricing code takes them.

    The energy is the one rule's steps (stations/sessions.py); power samples are
    chosen as its readings are (totals at the outlet, times believed: one whose time
    was not believed would bend the curve), read in the same query.
    """
    running = session.stopped_at is None
    ended_at = session.stopped_at or now or timezone.now()
    ended_at = max(ended_at, session.started_at)
    samples = believed_samples(session, [ENERGY_REGISTER, ACTIVE_POWER])
    return SessionUsage(
        started_at=session.started_at,
        ended_at=ended_at,
        energy=energy_steps(meter_readings(session, samples)),
        power_samples=[
            (timestamp, number * WATTS_PER_UNIT[unit])
            for timestamp, measurand, unit, number in samples
            if measurand == ACTIVE_POWER and unit in WATTS_PER_UNIT
        ],
        time_zone=site_time_zone(session.connector),
        running=running,
    )


def price_of_session(
    session: ChargingSession, now: datetime | None = None, usage: SessionUsage | None = None
) -> Price | None:
    """The price of a session under the tariff that applied when it started; for a
    running session the cost so far. None when no tariff applies.

    `usage` is usage_from_session(session, now), when the caller has read it already.

    The kWh left in the driver's plan at the session's start are priced in
    (billing/subscriptions.py says what is left, billing/pricing.py how it counts).
    """
    driver = session_driver(session)
    tariff = tariff_for(session.connector, driver, session.started_at)
    if tariff is None:
        return None
    included = included_kwh_left(driver, session.started_at, excluding_session_id=session.pk)
    usage = usage or usage_from_session(session, now)
    return price_session(usage, tariff.terms(), included)


def cost_so_far(
    session: ChargingSession, now: datetime | None = None, usage: SessionUsage | None = None
) -> Price | None:
    """What a running session has cost until now (the final price once it stopped)."""
    return price_of_session(session, now, usage)


@dataclass(frozen=True)
class UnitPrice:
    net: Decimal
    gross: Decimal  # incl. VAT, what Swedish consumer prices show


@dataclass(frozen=True)
class PeriodPreview:
    name: str
    weekdays: tuple[int, ...]  # ISO: 1 = Monday
    start: time
    end: time
    price_per_kwh: UnitPrice
    price_per_minute: UnitPrice


@dataclass(frozen=True)
class PricePreview:
    """What a driver would pay at a connector, shown before the session starts."""

    tariff: str
    explanation: str
    currency: str
    vat_rate: Decimal
    time_zone: str
    price_per_kwh: UnitPrice
    price_per_minute: UnitPrice
    session_fee: UnitPrice
    idle_fee_per_minute: UnitPrice
    idle_grace_minutes: int
    min_price: UnitPrice | None
    max_price: UnitPrice | None
    time_of_use: tuple[PeriodPreview, ...]
    current_period: str  # "" when the base prices apply right now


def price_preview(
    connector: Connector, user: User | None, at: datetime | None = None
) -> PricePreview | None:
    """The prices a session started now (or at `at`) would be charged; None: no tariff."""
    at = at or timezone.now()
    assignment = assignment_for(connector, user, at)
    if assignment is None:
        return None
    terms = assignment.tariff.terms()
    tz_name = site_time_zone(connector)

    def unit(net: Decimal) -> UnitPrice:
        return UnitPrice(net, with_vat(net, terms))

    def optional(net: Decimal | None) -> UnitPrice | None:
        return None if net is None else unit(net)

    current = time_of_use_at(terms, ZoneInfo(tz_name), at)
    return PricePreview(
        tariff=terms.name,
        explanation=explain(assignment),
        currency=terms.currency,
        vat_rate=terms.vat_rate,
        time_zone=tz_name,
        price_per_kwh=unit(terms.price_per_kwh),
        price_per_minute=unit(terms.price_per_minute),
        session_fee=unit(terms.session_fee),
        idle_fee_per_minute=unit(terms.idle_fee_per_minute),
        idle_grace_minutes=terms.idle_grace_minutes,
        min_price=optional(terms.min_price),
        max_price=optional(terms.max_price),
        time_of_use=tuple(_period_preview(period, terms, unit) for period in terms.time_of_use),
        current_period=current.name if current else "",
    )


def _period_preview(
    period: TimeOfUse, terms: TariffTerms, unit: Callable[[Decimal], UnitPrice]
) -> PeriodPreview:
    kwh = terms.price_per_kwh if period.price_per_kwh is None else period.price_per_kwh
    minute = terms.price_per_minute if period.price_per_minute is None else period.price_per_minute
    return PeriodPreview(
        name=period.name,
        weekdays=tuple(sorted(period.weekdays)),
        start=period.start,
        end=period.end,
        price_per_kwh=unit(kwh),
        price_per_minute=unit(minute),
    )


def with_vat(net: Decimal, terms: TariffTerms) -> Decimal:
    # A unit price incl. VAT, for display only: amounts are rounded in pricing.py.
    return (net * (100 + terms.vat_rate) / 100).quantize(UNIT_PRICE_STEP, ROUND_HALF_UP)
