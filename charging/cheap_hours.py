"""Cheap-hour charging: a driver who gives a departure time and the energy they need gets
a charging schedule that delivers it by then at the lowest price.

The time until departure is cut into quarter hours (the first and last may be shorter);
each is priced per kWh by the tariff's time-of-use rule (billing.tariffs.price_in_force,
the one the bill uses), then, among equal prices, by the hour's spot price where one is
stored (billing/spot_prices.py): with a flat tariff the car charges when electricity is
cheapest for the operator. The cheapest quarters are filled at the connector's full power
until the energy is met (the earliest first among equal prices, so that the car is full
as soon as it costs nothing more); the last one only as much as needed. Quarters left out
get 0 W. When the time is too short for the energy, every quarter is used: charge now.

The schedule goes to the charger with the start (RemoteStartTransaction's TxProfile,
OCPP 1.6 §5.11, an Absolute schedule in W) and is stored as the session's plan
(stations.models.ChargingPlan, `record()`). On a site under smart charging the site's
allocation sends its own TxProfile for the transaction (stations/load_balancing.py),
which takes the schedule's place: it reads the plan's watts now as the connector's cap
(0 A outside the planned quarters, so that other cars get the room) and runs again at
each of the plan's period boundaries, so the car still charges in the cheap hours, at
its share of the site's limit.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from billing import spot_prices, tariffs
from charging.refusals import Refused
from stations import load_balancing
from stations.models import ChargingPlan, Connector
from users.models import User

STEP = timedelta(minutes=15)
HOUR = Decimal(3600)
# A departure further ahead than this is not planned for (tariffs change, cars leave).
LONGEST_PLAN = timedelta(hours=48)


@dataclass(frozen=True)
class Period:
    """From `start` to `end` the charger may draw at most `watts`."""

    start: datetime
    end: datetime
    watts: int

    @property
    def wh(self) -> Decimal:
        return Decimal(self.watts) * Decimal((self.end - self.start).total_seconds()) / HOUR


def quarters(now: datetime, departure: datetime) -> list[tuple[datetime, datetime]]:
    """[now, departure) cut on the quarter hours of the clock."""
    steps = []
    start = now
    while start < departure:
        into = timedelta(
            minutes=start.minute % 15, seconds=start.second, microseconds=start.microsecond
        )
        end = min(start - into + STEP, departure)
        steps.append((start, end))
        start = end
    return steps


def cheapest_schedule(
    now: datetime,
    departure: datetime,
    energy_wh: int,
    max_watts: int,
    price_per_kwh: Callable[[datetime], Any],
) -> list[Period]:
    """The periods (in time order, equal neighbours merged) that deliver `energy_wh` by
    `departure` at the lowest price, at most `max_watts` at any time. `price_per_kwh`
    gives a quarter's price by its start: a number, or a tuple compared in order."""
    steps = quarters(now, departure)
    priced = sorted(steps, key=lambda step: (price_per_kwh(step[0]), step[0]))
    watts: dict[datetime, int] = dict.fromkeys((start for start, _end in steps), 0)
    remaining = Decimal(energy_wh)
    for start, end in priced:
        if remaining <= 0:
            break
        hours = Decimal((end - start).total_seconds()) / HOUR
        full = Decimal(max_watts) * hours
        if full <= remaining:
            watts[start] = max_watts
            remaining -= full
        else:
            watts[start] = int((remaining / hours).to_integral_value(rounding=ROUND_CEILING))
            remaining = Decimal(0)
    periods: list[Period] = []
    for start, end in steps:
        if periods and periods[-1].watts == watts[start]:
            periods[-1] = Period(periods[-1].start, end, watts[start])
        else:
            periods.append(Period(start, end, watts[start]))
    return periods


def tx_profile(periods: list[Period], profile_id: int = 1) -> dict[str, Any]:
    """The schedule as the TxProfile a RemoteStartTransaction carries (OCPP 1.6 §7.8):
    absolute, from the first period's start, in W."""
    begin = periods[0].start
    return {
        "chargingProfileId": profile_id,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": begin.isoformat(),
            "duration": int((periods[-1].end - begin).total_seconds()),
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {"startPeriod": int((p.start - begin).total_seconds()), "limit": p.watts}
                for p in periods
            ],
        },
    }


def check_wish(now: datetime, departure: datetime | None, energy_kwh: Decimal | None) -> bool:
    """Whether the driver asked for a schedule; refuses (400) half a wish, a departure in
    the past or beyond LONGEST_PLAN, and energy that is not a positive amount."""
    if departure is None and energy_kwh is None:
        return False
    if departure is None or energy_kwh is None:
        raise Refused(_("Give both the departure time and the energy you need."), 400)
    if departure <= now:
        raise Refused(_("The departure time has already passed."), 400)
    if departure > now + LONGEST_PLAN:
        raise Refused(
            _("A departure can be planned for up to %(hours)d hours ahead.")
            % {"hours": LONGEST_PLAN.total_seconds() // 3600},
            400,
        )
    if not Decimal(0) < energy_kwh <= Decimal(1000):
        raise Refused(_("The energy needed is more than 0 and at most 1000 kWh."), 400)
    return True


def plan_for(
    connector: Connector, user: User, now: datetime, departure: datetime, energy_kwh: Decimal
) -> list[Period]:
    """The cheapest schedule at this connector for this driver, priced by the tariff that
    would apply to their session (billing.tariffs.tariff_for); no tariff: charge now."""
    # Whole seconds: a profile's periods start at whole seconds from its start.
    now, departure = now.replace(microsecond=0), departure.replace(microsecond=0)
    tariff = tariffs.tariff_for(connector, user, now)
    terms = tariff.terms() if tariff is not None else None
    zone = ZoneInfo(tariffs.site_time_zone(connector))
    spot = spot_prices.prices_between(now, departure)

    def price(at: datetime) -> tuple[Decimal, Decimal]:
        # The driver's price first; among equal ones, the hour the operator buys cheaper.
        driver = tariffs.price_in_force(terms, zone, at).per_kwh.gross if terms else Decimal(0)
        wholesale = spot_prices.price_at(spot, at)
        return driver, wholesale if wholesale is not None else Decimal(0)

    # On a managed site the car gets at most what the allocation can give (whole tenths
    # of an amp per phase): planned at that, the energy is still there by departure.
    most = (
        load_balancing.max_watts(connector, connector.charge_point)
        if load_balancing.is_managed(connector.charge_point.site_id)
        else int(connector.max_power_kw * 1000)
    )
    return cheapest_schedule(now, departure, int(energy_kwh * 1000), most, price)


def record(
    connector: Connector,
    id_tag: str,
    periods: list[Period],
    departure: datetime,
    energy_kwh: Decimal,
) -> ChargingPlan:
    """Store the plan for the session about to start on `connector` for `id_tag`: the
    site's allocation caps that session by it (stations/load_balancing.py)."""
    return ChargingPlan.objects.create(
        connector=connector,
        id_tag=id_tag,
        periods=[
            {"start": p.start.isoformat(), "end": p.end.isoformat(), "watts": p.watts}
            for p in periods
        ],
        departure_at=departure,
        energy_wh=int(energy_kwh * 1000),
    )
