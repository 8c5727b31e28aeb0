"""The price of a charging session: its usage and a tariff in, priced lines out.

Pure: no database, no clock, no network. The portal, the API, invoices and the cost a
running session shows all call `price_session`, so a rule lives here and nowhere else.

The rules:

- Prices in a tariff are NET, i.e. excluding VAT (moms). VAT is added at the tariff's rate;
  what a Swedish consumer is shown incl. moms is `gross`. Every amount is a Decimal.
- All time arithmetic is done on UTC instants. Time-of-use windows are stated in the
  site's wall-clock time and mapped to instants with its time zone, so a night with a
  DST change lasts as long as it really did (7 h from 22:00 to 06:00 when the clocks go
  forward, 9 h when they go back). A window boundary is the first instant the site's
  clock shows that time, or a later time when the clock skips it: a window that starts
  at 02:30 on the spring-forward night starts at 03:00 (the clock jumps over 02:30); on
  the fall-back night it starts at the first 02:30.
- A time-of-use window belongs to the weekday it starts on (Friday 22:00-06:00 runs into
  Saturday). End at or before start means it runs past midnight; start = end is a whole
  day. Where windows overlap, the first one in the tariff's order wins. Time not covered
  by any window is priced at the tariff's base prices; a window without its own price
  per kWh or per minute uses the base one.
- The energy comes as steps from one meter reading to the next, by the one rule of a
  session's energy (stations/sessions.py: a register going backwards adds nothing).
  It is split across window boundaries with each step spread linearly over its
  interval. Before the first and after the last reading no energy is counted.
- The car is drawing power when a power sample, or the average power over a meter
  interval, is above IDLE_POWER_W. Charging time runs from the start until the car
  stopped drawing power for the last time (known from a later sample that shows it not
  drawing); the rest of the session is idle time. The price per minute applies to
  charging time; the idle fee per minute to idle time beyond the grace period. Without a
  sample after charging stopped nothing is idle (no evidence, no fee).
- A session that delivered no energy costs nothing: no fees, no minimum price (a failed
  start is not the driver's fault).
- Minimum and maximum price apply to the net total of all lines (energy, time, session
  fee, idle fee); the difference is its own line, so the invoice shows why.
- kWh included in a subscription plan (`included_kwh`, what is left of the month's
  allowance) come after the minimum and maximum price, as a negative line "Included in
  your plan": it covers min(included, energy) kWh, the energy counted in whole Wh
  (rounded down, so the allowance used is exactly the quantity shown), at the session's
  average energy price (the exact net of all energy lines / all the energy delivered,
  so covered kWh are valued alike whatever time-of-use window they fell in). Its net is
  exact and rounded once like every line; the unit price shown is that average rounded
  to 0.0001. After min/max, so that the plan's kWh are never eaten by a minimum price
  that tops up what they took off, or wasted on a session a maximum price already
  capped. A session never costs less than zero: when the covered kWh are worth more
  than the rest of the session (a cap cut it first), the line takes it to zero and
  covers only the kWh that zero is worth (rounded down to the Wh). No energy price, no
  line: the allowance is not spent on free energy.
- Rounding (ROUNDING_RULE, money.py), once: each line's net is computed exactly from the exact
  quantity and rounded to öre (0.01) half up; the net total is the sum of the rounded
  lines; VAT is computed once on that net total at the tariff's rate and rounded to öre
  half up, and is shared out over the lines by largest remainder (ties to the earlier
  line) so that lines add up to the totals; gross = net + VAT. Quantities are shown
  rounded to 3 decimals (kWh to the Wh, minutes to 0.06 s); nets come from exact ones.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext

from billing.money import CURRENCY, ORE, round_to_ore
from stations.sessions import EnergyStep

ZERO = Decimal(0)
QUANTITY_STEP = Decimal("0.001")
UNIT_PRICE_STEP = Decimal("0.0001")  # an average price per kWh, as shown
# A car drawing at most this much is not charging (a full battery still powers the
# car's electronics and battery conditioning with a few tens of watts).
IDLE_POWER_W = Decimal(100)
# Exact enough: the only inexact steps are divisions (interpolation, seconds to minutes),
# whose 40-digit results cannot land on the wrong side of a half öre.
PRECISION = 40

ROUNDING_RULE = (
    "Each line's net is rounded once to 0.01 half up; VAT is computed on the summed net "
    "at the tariff's rate and rounded to 0.01 half up, shared out over the lines by "
    "largest remainder; gross = net + VAT."
)


class LineKind(StrEnum):
    ENERGY = "energy"
    TIME = "time"
    SESSION_FEE = "session_fee"
    IDLE_FEE = "idle_fee"
    MINIMUM_PRICE = "minimum_price"
    MAXIMUM_PRICE = "maximum_price"
    INCLUDED_ENERGY = "included_energy"  # kWh included in a subscription plan (negative)
    NO_SHOW_FEE = "no_show_fee"  # a booked slot not used (billing/no_show.py)


@dataclass(frozen=True)
class TimeOfUse:
    """A weekly window with its own prices, in the site's wall-clock time."""

    name: str
    weekdays: frozenset[int]  # ISO weekdays the window starts on: 1 = Monday … 7 = Sunday
    start: time
    end: time
    price_per_kwh: Decimal | None = None  # None: the tariff's base price
    price_per_minute: Decimal | None = None


@dataclass(frozen=True)
class TariffTerms:
    """What a tariff says, detached from the database (see Tariff.terms())."""

    name: str = ""
    currency: str = CURRENCY
    vat_rate: Decimal = Decimal(25)  # percent
    price_per_kwh: Decimal = ZERO  # all prices net, excluding VAT
    price_per_minute: Decimal = ZERO
    session_fee: Decimal = ZERO
    idle_fee_per_minute: Decimal = ZERO
    idle_grace_minutes: int = 0
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    time_of_use: tuple[TimeOfUse, ...] = ()


@dataclass(frozen=True)
class SessionUsage:
    """What a session used: its times and what the meter said.

    `ended_at` is the stop time, or now for a running session (then `running` is True).
    `energy` is what the meter delivered, reading to reading (stations.sessions
    .energy_steps); power samples are in W.
    """

    started_at: datetime
    ended_at: datetime
    energy: Sequence[EnergyStep]
    power_samples: Sequence[tuple[datetime, Decimal]] = ()
    time_zone: str = "Europe/Stockholm"
    running: bool = False


@dataclass(frozen=True)
class PricedLine:
    kind: LineKind
    description: str
    quantity: Decimal
    unit: str  # "kWh", "min", "session" or "" (adjustments)
    unit_price: Decimal  # net
    net: Decimal
    vat: Decimal
    gross: Decimal
    period: str = ""  # the time-of-use window, "" for base prices


@dataclass(frozen=True)
class Price:
    lines: tuple[PricedLine, ...]
    net: Decimal
    vat: Decimal
    gross: Decimal
    currency: str
    vat_rate: Decimal
    energy_kwh: Decimal
    charging_minutes: Decimal
    idle_minutes: Decimal
    is_final: bool  # False: the cost so far of a running session
    rounding: str = field(default=ROUNDING_RULE)


@dataclass
class _Line:
    """A line before rounding: exact quantity and net."""

    kind: LineKind
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    exact_net: Decimal
    period: str = ""


def price_session(usage: SessionUsage, terms: TariffTerms, included_kwh: Decimal = ZERO) -> Price:
    """The price of a session (or the cost so far of a running one) under a tariff.

    `included_kwh`: what is left of the driver's plan allowance for this session.
    """
    if not Decimal(included_kwh).is_finite() or included_kwh < 0:
        raise ValueError("Included kWh must be a finite amount, not below zero.")
    for moment in (usage.started_at, usage.ended_at):
        if moment.tzinfo is None:
            raise ValueError("Session times must be timezone-aware.")
    if usage.ended_at < usage.started_at:
        raise ValueError("A session cannot end before it starts.")
    try:
        ZoneInfo(usage.time_zone)
    except (ValueError, ZoneInfoNotFoundError) as error:
        raise ValueError(f"Unknown time zone: {usage.time_zone!r}.") from error
    with localcontext() as context:
        context.prec = PRECISION
        return _price(usage, terms, Decimal(included_kwh))


def _price(usage: SessionUsage, terms: TariffTerms, included_kwh: Decimal) -> Price:
    start = usage.started_at.astimezone(UTC)
    end = usage.ended_at.astimezone(UTC)
    register = _EnergyRegister(usage.energy)
    energy_wh = register.between(start, end)
    idle_from = _idle_from(usage, register, start, end)
    charging_end = idle_from if idle_from is not None else end
    idle_seconds = _seconds(end - charging_end)
    fee_from = _idle_fee_from(idle_from, terms)

    lines: list[_Line] = []
    if energy_wh > 0:
        lines += _usage_lines(usage, terms, register, start, end, charging_end)
        if terms.session_fee:
            lines.append(
                _Line(
                    LineKind.SESSION_FEE,
                    gettext("Session fee"),
                    Decimal(1),
                    "session",
                    terms.session_fee,
                    terms.session_fee,
                )
            )
        billable_idle = max(ZERO, _seconds(end - fee_from)) / 60 if fee_from else ZERO
        if billable_idle > 0:
            lines.append(
                _Line(
                    LineKind.IDLE_FEE,
                    gettext("Idle fee (after %(minutes)s min grace)")
                    % {"minutes": terms.idle_grace_minutes},
                    billable_idle,
                    "min",
                    terms.idle_fee_per_minute,
                    billable_idle * terms.idle_fee_per_minute,
                )
            )

    nets = [round_to_ore(line.exact_net) for line in lines]
    if lines:
        total = sum(nets, ZERO)
        if terms.min_price is not None and total < terms.min_price:
            lines.append(
                _adjustment(
                    LineKind.MINIMUM_PRICE, gettext("Minimum price"), terms.min_price - total
                )
            )
            nets.append(terms.min_price - total)
        elif terms.max_price is not None and total > terms.max_price:
            lines.append(
                _adjustment(
                    LineKind.MAXIMUM_PRICE, gettext("Maximum price"), terms.max_price - total
                )
            )
            nets.append(terms.max_price - total)
        included = _included_energy(lines, energy_wh, included_kwh, sum(nets, ZERO))
        if included is not None:
            lines.append(included)
            nets.append(included.exact_net)

    net_total = sum(nets, ZERO)
    vat_total = _vat(net_total, terms)
    vats = _share_out(vat_total, [net * terms.vat_rate / 100 for net in nets])
    priced = tuple(
        PricedLine(
            kind=line.kind,
            description=line.description,
            quantity=line.quantity.quantize(QUANTITY_STEP, ROUND_HALF_UP),
            unit=line.unit,
            unit_price=line.unit_price,
            net=net,
            vat=vat,
            gross=net + vat,
            period=line.period,
        )
        for line, net, vat in zip(lines, nets, vats, strict=True)
    )
    return Price(
        lines=priced,
        net=net_total,
        vat=vat_total,
        gross=net_total + vat_total,
        currency=terms.currency,
        vat_rate=terms.vat_rate,
        energy_kwh=(energy_wh / 1000).quantize(QUANTITY_STEP, ROUND_HALF_UP),
        charging_minutes=(_seconds(charging_end - start) / 60).quantize(
            QUANTITY_STEP, ROUND_HALF_UP
        ),
        idle_minutes=(idle_seconds / 60).quantize(QUANTITY_STEP, ROUND_HALF_UP),
        is_final=not usage.running,
    )


def price_fee(kind: LineKind, description: str, net: Decimal, terms: TariffTerms) -> Price:
    """A flat fee that is not a session's (a booking's no-show fee) as a price of one
    line, by the same rounding and VAT rule as a session."""
    net = round_to_ore(net)
    vat = _vat(net, terms)
    line = PricedLine(kind, description, Decimal(1), "", net, net, vat, net + vat)
    return Price(
        lines=(line,),
        net=net,
        vat=vat,
        gross=net + vat,
        currency=terms.currency,
        vat_rate=terms.vat_rate,
        energy_kwh=ZERO.quantize(QUANTITY_STEP),
        charging_minutes=ZERO.quantize(QUANTITY_STEP),
        idle_minutes=ZERO.quantize(QUANTITY_STEP),
        is_final=True,
    )


def _vat(net: Decimal, terms: TariffTerms) -> Decimal:
    # VAT is charged on the price's net total, rounded once to whole öre.
    return round_to_ore(net * terms.vat_rate / 100)


def _included_energy(
    lines: list[_Line], energy_wh: Decimal, included_kwh: Decimal, total: Decimal
) -> _Line | None:
    """The plan's included kWh as a negative line (the rule is in the module docstring);
    `total` is the session's net after minimum and maximum price. Its net is rounded."""
    energy_net = sum((line.exact_net for line in lines if line.kind == LineKind.ENERGY), ZERO)
    if included_kwh <= 0 or energy_net <= 0 or total <= 0:
        return None
    average = energy_net * 1000 / energy_wh  # per kWh
    covered = _whole_wh(min(included_kwh, energy_wh / 1000))
    value = round_to_ore(covered * average)
    if value > total:
        value = total
        covered = _whole_wh(total / average)
    if covered <= 0 or value <= 0:
        return None
    return _Line(
        LineKind.INCLUDED_ENERGY,
        gettext("Included in your plan"),
        covered,
        "kWh",
        -average.quantize(UNIT_PRICE_STEP, ROUND_HALF_UP),
        -value,
    )


def _whole_wh(kwh: Decimal) -> Decimal:
    """kWh rounded down to the Wh."""
    return kwh.quantize(QUANTITY_STEP, ROUND_FLOOR)


def _adjustment(kind: LineKind, description: str, difference: Decimal) -> _Line:
    """Up to the minimum or down to the maximum: the difference to the rounded lines."""
    return _Line(kind, description, Decimal(1), "", difference, difference)


def _usage_lines(
    usage: SessionUsage,
    terms: TariffTerms,
    register: "_EnergyRegister",
    start: datetime,
    end: datetime,
    charging_end: datetime,
) -> list[_Line]:
    """Energy and charging-time lines, one pair per time-of-use window the session met."""
    windows = _windows(terms.time_of_use, ZoneInfo(usage.time_zone), start, end)
    cuts = sorted({start, end, *(t for s, e, _ in windows for t in (s, e) if start < t < end)})
    energy: dict[int | None, Decimal] = {}
    seconds: dict[int | None, Decimal] = {}
    for a, b in pairwise(cuts):
        regime = min((index for s, e, index in windows if s <= a < e), default=None)
        energy[regime] = energy.get(regime, ZERO) + register.between(a, b)
        charging = _seconds(min(b, charging_end) - a) if a < charging_end else ZERO
        seconds[regime] = seconds.get(regime, ZERO) + charging

    lines: list[_Line] = []
    for regime in energy:  # in the order the session met them
        period = terms.time_of_use[regime] if regime is not None else None
        name = period.name if period else ""
        kwh_price = _override(period.price_per_kwh if period else None, terms.price_per_kwh)
        minute_price = _override(
            period.price_per_minute if period else None, terms.price_per_minute
        )
        kwh = energy[regime] / 1000
        if kwh_price and kwh > 0:
            lines.append(
                _Line(
                    LineKind.ENERGY,
                    _described(gettext("Energy"), name),
                    kwh,
                    "kWh",
                    kwh_price,
                    kwh * kwh_price,
                    name,
                )
            )
        minutes = seconds[regime] / 60
        if minute_price and minutes > 0:
            lines.append(
                _Line(
                    LineKind.TIME,
                    _described(gettext("Charging time"), name),
                    minutes,
                    "min",
                    minute_price,
                    minutes * minute_price,
                    name,
                )
            )
    return lines


def _override(own: Decimal | None, base: Decimal) -> Decimal:
    return base if own is None else own


def _described(what: str, period: str) -> str:
    return f"{what} ({period})" if period else what


def _windows(
    periods: Sequence[TimeOfUse], tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, int]]:
    """Occurrences of the time-of-use windows that touch [start, end), as UTC instants."""
    first = start.astimezone(tz).date() - timedelta(days=1)  # a window from the day before
    last = end.astimezone(tz).date()
    found = []
    day = first
    while day <= last:
        for index, period in enumerate(periods):
            if day.isoweekday() not in period.weekdays:
                continue
            ends_next_day = period.end <= period.start
            s = local_boundary(day, period.start, tz)
            e = local_boundary(day + timedelta(days=ends_next_day), period.end, tz)
            if s < end and e > start:
                found.append((s, e, index))
        day += timedelta(days=1)
    return found


def time_of_use_at(terms: TariffTerms, tz: ZoneInfo, moment: datetime) -> TimeOfUse | None:
    """The time-of-use window whose prices apply at `moment`; None: the base prices."""
    moment = moment.astimezone(UTC)
    windows = _windows(terms.time_of_use, tz, moment, moment + timedelta(microseconds=1))
    index = min((index for s, e, index in windows if s <= moment < e), default=None)
    return None if index is None else terms.time_of_use[index]


def local_boundary(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The first UTC instant at which the site's clock shows `wall` on `day`, or later.

    A wall time repeated when the clocks go back is taken at its first occurrence; one
    skipped when they go forward is taken at the jump (02:30 becomes 03:00 CEST).
    """
    naive = datetime.combine(day, wall)
    instant = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(instant, tz) == naive:
        return instant
    # In the spring-forward gap. fold=0 maps it with the offset before the jump, to an
    # instant after it; fold=1, with the offset after, to one before it. Find the jump.
    low = int(naive.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    high = int(instant.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), tz) >= naive:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


class _EnergyRegister:
    """The energy delivered as a function of time, linear within each step."""

    def __init__(self, steps: Sequence[EnergyStep]) -> None:
        delivered_by: dict[datetime, Decimal] = {}
        delivered = ZERO
        for step in steps:  # in time order, each starting where the one before ended
            delivered_by.setdefault(step.start.astimezone(UTC), delivered)
            delivered += step.wh
            delivered_by[step.end.astimezone(UTC)] = delivered  # a step of no time: at once
        self.points: list[tuple[datetime, Decimal]] = list(delivered_by.items())

    def at(self, moment: datetime) -> Decimal:
        points = self.points
        if not points:
            return ZERO
        if moment <= points[0][0]:
            return points[0][1]
        for (t0, e0), (t1, e1) in pairwise(points):
            if moment <= t1:
                # Multiply before dividing: exact whenever the result is.
                return e0 + (e1 - e0) * _micro(moment - t0) / _micro(t1 - t0)
        return points[-1][1]

    def between(self, a: datetime, b: datetime) -> Decimal:
        return self.at(b) - self.at(a)

    def intervals(self) -> list[tuple[datetime, datetime, Decimal]]:
        """(from, to, average power in W) between consecutive readings."""
        return [
            (t0, t1, (e1 - e0) * 3600 / _seconds(t1 - t0))
            for (t0, e0), (t1, e1) in pairwise(self.points)
        ]


def idle_fee_from(usage: SessionUsage, terms: TariffTerms) -> datetime | None:
    """When the session's idle fee starts (or started): the tariff's grace period after
    the car last stopped drawing power, as the meter samples tell. None without an idle
    fee, before anything was delivered, or while the samples show it still drawing.

    The same moment the price counts idle minutes from: notifications tell the driver
    this time (billing/tariffs.py idle_fee_starts, for a session).
    """
    start = usage.started_at.astimezone(UTC)
    end = usage.ended_at.astimezone(UTC)
    with localcontext() as context:
        context.prec = PRECISION
        register = _EnergyRegister(usage.energy)
        if register.between(start, end) <= 0:
            return None
        return _idle_fee_from(_idle_from(usage, register, start, end), terms)


def _idle_fee_from(idle_from: datetime | None, terms: TariffTerms) -> datetime | None:
    # The idle fee runs from the end of the grace period after the car stopped drawing.
    if idle_from is None or not terms.idle_fee_per_minute:
        return None
    return idle_from + timedelta(minutes=terms.idle_grace_minutes)


def _idle_from(
    usage: SessionUsage, register: _EnergyRegister, start: datetime, end: datetime
) -> datetime | None:
    """When the car stopped drawing power for the last time; None if it never did (as
    far as the samples tell)."""
    drawing: list[datetime] = []  # instants the car is known to draw power (or right after)
    stopped: list[datetime] = []  # instants by which it was known not to
    for moment, watts in usage.power_samples:
        moment = moment.astimezone(UTC)
        if start <= moment <= end:
            (drawing if Decimal(watts) > IDLE_POWER_W else stopped).append(moment)
    intervals = register.intervals()
    for index, (t0, t1, watts) in enumerate(intervals):
        if watts > IDLE_POWER_W and t1 > start and t0 < end:
            drawing.append(max(t0, start))
            following = intervals[index + 1] if index + 1 < len(intervals) else None
            if following is not None and following[2] <= IDLE_POWER_W:
                stopped.append(t1)  # flat afterwards: it stopped by t1
    last_drawing = max(drawing, default=start)
    after = [moment for moment in stopped if moment > last_drawing]
    if not after:
        return None
    return min(min(after), end)


def _micro(delta: timedelta) -> Decimal:
    return Decimal(delta // timedelta(microseconds=1))


def _seconds(delta: timedelta) -> Decimal:
    return _micro(delta) / 1_000_000


def _share_out(total: Decimal, exact: list[Decimal]) -> list[Decimal]:
    """Split a rounded total over exact shares: floor each, then hand out the remaining
    öre one by one to the largest remainders (ties to the earlier share)."""
    floors = [share.quantize(ORE, ROUND_FLOOR) for share in exact]
    left = int((total - sum(floors, ZERO)) / ORE)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += ORE
    return floors
