"""Which tariff applies, and what a session costs: the database side of pricing.

The selection rule, in one place: among the assignments valid at the moment a session
starts (the assignment's and its tariff's validity both), for the connector, its charge
point or its site, one for a customer group of the driver beats one for everyone; then
connector beats charge point beats site; then the one that became valid last wins (a
price change is a new assignment or tariff valid from the moment of the change, so it
applies to sessions starting after it); then the newest. The arithmetic is in
billing/pricing.py.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
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
    idle_fee_from,
    price_session,
    time_of_use_at,
)
from billing.subscriptions import included_kwh_left
from chargehub.read_again_after import ReadAgainAfter
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
    return candidates_by_connector([connector], user, at)[connector.pk]


def candidates_by_connector(
    connectors: Iterable[Connector], user: User | None, at: datetime
) -> dict[int, list[TariffAssignment]]:
    """Each connector's candidate assignments (by its pk), winner first: the rule of
    candidate_assignments() for many connectors in two queries (assignments, their
    time-of-use periods), whatever their number. Connectors come with their charge point."""
    connectors = list(connectors)
    if not connectors:
        return {}
    site_ids = {c.charge_point.site_id for c in connectors if c.charge_point.site_id is not None}
    place = Q(connector__in=[c.pk for c in connectors]) | Q(
        charge_point__in={c.charge_point_id for c in connectors}
    )
    if site_ids:
        place |= Q(site__in=site_ids)
    whom = Q(customer_group__isnull=True)
    if user is not None and user.is_authenticated:
        whom |= Q(customer_group__in=CustomerGroup.objects.filter(members=user))
    assignments = (
        TariffAssignment.objects.filter(place, whom, valid_at(at), valid_at(at, "tariff__"))
        # The place with what explain() prints of it (a connector names its charger).
        .select_related(
            "tariff", "customer_group", "site", "charge_point", "connector__charge_point"
        )
        .defer("charge_point__configuration", "connector__charge_point__configuration")
        .prefetch_related("tariff__time_of_use")
    )
    # Each assignment names one place (TariffAssignment's constraint): index them by it.
    by_place: dict[tuple[str, int], list[TariffAssignment]] = defaultdict(list)
    for assignment in assignments:
        if assignment.connector_id is not None:
            by_place["connector", assignment.connector_id].append(assignment)
        elif assignment.charge_point_id is not None:
            by_place["charge_point", assignment.charge_point_id].append(assignment)
        elif assignment.site_id is not None:
            by_place["site", assignment.site_id].append(assignment)
    found = {}
    for connector in connectors:
        candidates = [
            *by_place.get(("connector", connector.pk), []),
            *by_place.get(("charge_point", connector.charge_point_id), []),
        ]
        if connector.charge_point.site_id is not None:
            candidates += by_place.get(("site", connector.charge_point.site_id), [])
        candidates.sort(key=_specificity, reverse=True)
        found[connector.pk] = candidates
    return found


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


def _read_any_idle_fee() -> bool:
    return Tariff.objects.filter(idle_fee_per_minute__gt=0).exists()


# Asked on each MeterValues of a paused car (notifications/receivers.py), in the charger's
# request. A tariff saved or deleted in this process forgets it (billing/receivers.py);
# one changed in another process is heard within BILLING_IDLE_FEES_TTL.
_idle_fees = ReadAgainAfter(_read_any_idle_fee, "BILLING_IDLE_FEES_TTL")


def any_idle_fee() -> bool:
    """Whether any tariff has an idle fee (kept per process, see above): without one,
    no session's car can start one, and nobody is told of one."""
    return _idle_fees.get()


def forget_idle_fees() -> None:
    """A tariff changed: the next any_idle_fee() asks the database again."""
    _idle_fees.forget()


def idle_fee_starts(session: ChargingSession, now: datetime | None = None) -> datetime | None:
    """When the session's idle fee starts under the tariff it is billed by: the moment
    its price counts idle minutes from (billing/pricing.py idle_fee_from), also the
    time the driver is warned of. None without an idle fee or while the car draws."""
    tariff = tariff_for(session.connector, session_driver(session), session.started_at)
    if tariff is None:
        return None
    return idle_fee_from(usage_from_session(session, now), tariff.terms())


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
class PriceNow:
    """The prices in force at one moment, what a sign at the charger shows: those of the
    time-of-use period running then by the site's clock, else the tariff's base ones."""

    currency: str
    per_kwh: UnitPrice
    per_minute: UnitPrice
    period: str  # "" when the base prices apply


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
    now: PriceNow
    # The dearest energy price of the week: the base's or a period's, whichever is higher.
    peak_per_kwh: UnitPrice


def price_preview(
    connector: Connector, user: User | None, at: datetime | None = None
) -> PricePreview | None:
    """The prices a session started now (or at `at`) would be charged; None: no tariff."""
    return price_previews([connector], user, at)[connector.pk]


def price_previews(
    connectors: Iterable[Connector], user: User | None, at: datetime | None = None
) -> dict[int, PricePreview | None]:
    """price_preview() of many connectors (by pk) in a fixed number of queries."""
    at = at or timezone.now()
    connectors = list(connectors)
    candidates = candidates_by_connector(connectors, user, at)
    return {
        connector.pk: _preview(candidates[connector.pk][0], connector, at)
        if candidates[connector.pk]
        else None
        for connector in connectors
    }


def current_prices(
    connectors: Iterable[Connector], user: User | None = None, at: datetime | None = None
) -> dict[int, PriceNow | None]:
    """The price in force now (or at `at`) at each connector (by pk) for `user` (None: a
    driver in no customer group); None: no tariff. A fixed number of queries: for lists."""
    return {
        pk: None if preview is None else preview.now
        for pk, preview in price_previews(connectors, user, at).items()
    }


@dataclass(frozen=True)
class PriceFrom:
    """The lowest energy price among a station's connectors, and whether they differ."""

    lowest: PriceNow
    varies: bool


def price_from(prices: Iterable[PriceNow | None]) -> PriceFrom | None:
    """What a list shows for a station: "3,00 SEK/kWh", or "from 3,00 SEK/kWh" when its
    connectors are priced differently; None when none of them has a price."""
    known = [price for price in prices if price is not None]
    if not known:
        return None
    lowest = min(known, key=lambda price: (price.per_kwh.gross, price.per_minute.gross))
    varies = any(
        (price.per_kwh, price.per_minute, price.currency)
        != (lowest.per_kwh, lowest.per_minute, lowest.currency)
        for price in known
    )
    return PriceFrom(lowest, varies)


def price_in_force(terms: TariffTerms, time_zone: ZoneInfo, at: datetime) -> PriceNow:
    """The prices of `terms` in force at `at` on the site's clock (billing/pricing.py's
    time-of-use rule), VAT included as drivers read them."""

    def unit(net: Decimal) -> UnitPrice:
        return UnitPrice(net, with_vat(net, terms))

    current = time_of_use_at(terms, time_zone, at)
    if current is None:
        return PriceNow(terms.currency, unit(terms.price_per_kwh), unit(terms.price_per_minute), "")
    period = _period_preview(current, terms, unit)
    return PriceNow(terms.currency, period.price_per_kwh, period.price_per_minute, current.name)


@dataclass(frozen=True)
class CheaperLater:
    """When energy is cheapest in the coming hours, if cheaper than now: the station
    page's "Cheaper from 22:00: 1,50 SEK/kWh"."""

    at: datetime
    per_kwh: UnitPrice
    currency: str
    period: str


def cheaper_later(
    connector: Connector, user: User | None, at: datetime | None = None, hours: int = 24
) -> CheaperLater | None:
    """The lowest energy price of the next `hours` by the time-of-use rule (the tariff
    that applies to `user` here), from its first quarter hour; None when nothing is
    cheaper than now (or no tariff, or no time-of-use periods)."""
    at = at or timezone.now()
    tariff = tariff_for(connector, user, at)
    if tariff is None:
        return None
    terms = tariff.terms()
    if not terms.time_of_use:
        return None
    zone = ZoneInfo(site_time_zone(connector))
    lowest = price_in_force(terms, zone, at).per_kwh.gross
    best = None
    # Periods begin on the local clock's quarter hours at the finest.
    moment = at.replace(second=0, microsecond=0) + timedelta(minutes=15 - at.minute % 15)
    while moment < at + timedelta(hours=hours):
        price = price_in_force(terms, zone, moment)
        if price.per_kwh.gross < lowest:
            lowest = price.per_kwh.gross
            best = CheaperLater(moment, price.per_kwh, terms.currency, price.period)
        moment += timedelta(minutes=15)
    return best


def _preview(assignment: TariffAssignment, connector: Connector, at: datetime) -> PricePreview:
    terms = assignment.tariff.terms()
    tz_name = site_time_zone(connector)

    def unit(net: Decimal) -> UnitPrice:
        return UnitPrice(net, with_vat(net, terms))

    def optional(net: Decimal | None) -> UnitPrice | None:
        return None if net is None else unit(net)

    now = price_in_force(terms, ZoneInfo(tz_name), at)
    periods = tuple(_period_preview(period, terms, unit) for period in terms.time_of_use)
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
        time_of_use=periods,
        current_period=now.period,
        now=now,
        peak_per_kwh=max(
            [unit(terms.price_per_kwh), *(period.price_per_kwh for period in periods)],
            key=lambda price: price.gross,
        ),
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
