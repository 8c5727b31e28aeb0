"""A driver's charging in figures: kWh, cost and CO2 saved per month.

CO2 saved is an estimate, and the page says so. The kWh charged is turned into the
distance an average electric car drives on it, and that distance into the CO2 an
average petrol car would have emitted, minus the CO2 of making the electricity:

- EV_KWH_PER_100_KM = 18: a typical mid-size electric car on mixed Swedish roads, charging
  losses included (EV Database's real-range averages run 16-20 kWh/100 km).
- PETROL_LITRES_PER_100_KM = 6.5: a typical petrol car in real driving (Trafikanalys
  reports about 6-7 l/100 km for the Swedish petrol car fleet).
- PETROL_KG_CO2_PER_LITRE = 2.3: CO2 from burning a litre of petrol, tailpipe only
  (Naturvårdsverket's emission factor for motor petrol is about 2.3 kg/l; production of
  the fuel would add more, so leaving it out keeps the saving on the low side).
- GRID_KG_CO2_PER_KWH = 0.040: the Swedish electricity consumption mix (estimates range
  from about 10 to 50 g CO2e/kWh depending on method and year; 40 g errs high, again so
  that the saving is not overstated).

So each kWh saves 6.5 * 2.3 / 18 - 0.040, about 0.79 kg CO2. Numbers for Swedish drivers;
making them settings would be overkill.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.money import round_to_ore
from charging.start_stop import sessions_of
from users.models import User

EV_KWH_PER_100_KM = Decimal(18)
PETROL_LITRES_PER_100_KM = Decimal("6.5")
PETROL_KG_CO2_PER_LITRE = Decimal("2.3")
GRID_KG_CO2_PER_KWH = Decimal("0.040")
KG_CO2_SAVED_PER_KWH = (
    PETROL_LITRES_PER_100_KM * PETROL_KG_CO2_PER_LITRE / EV_KWH_PER_100_KM - GRID_KG_CO2_PER_KWH
)
ZERO = Decimal(0)
KG = Decimal("0.1")


@dataclass(frozen=True)
class Month:
    month: date  # the first day of the month, in the site's time zone
    sessions: int
    energy_kwh: Decimal
    cost: Decimal  # gross SEK of the sessions priced so far
    co2_saved_kg: Decimal


def co2_saved_kg(energy_kwh: Decimal) -> Decimal:
    """kg CO2 saved against a petrol car, to 0.1 kg (the assumptions are above)."""
    return (energy_kwh * KG_CO2_SAVED_PER_KWH).quantize(KG)


def monthly(user: User) -> list[Month]:
    """The driver's charging per month (by session start, local time), newest first."""
    rows = (
        sessions_of(user)
        .order_by()
        .annotate(month=TruncMonth("started_at", tzinfo=timezone.get_current_timezone()))
        .values("month")
        .annotate(energy_wh=Sum("energy_wh"), cost=Sum("charge__gross"), sessions=Count("pk"))
        .order_by("-month")
    )
    months = []
    for row in rows:
        energy_kwh = Decimal(row["energy_wh"] or 0) / 1000
        months.append(
            Month(
                month=timezone.localtime(row["month"]).date()
                if timezone.is_aware(row["month"])
                else row["month"].date(),
                sessions=row["sessions"],
                energy_kwh=energy_kwh,
                cost=round_to_ore(row["cost"] or ZERO),
                co2_saved_kg=co2_saved_kg(energy_kwh),
            )
        )
    return months


def total(months: list[Month]) -> Month | None:
    if not months:
        return None
    energy_kwh = sum((month.energy_kwh for month in months), ZERO)
    return Month(
        month=months[-1].month,
        sessions=sum(month.sessions for month in months),
        energy_kwh=energy_kwh,
        cost=sum((month.cost for month in months), ZERO),
        co2_saved_kg=co2_saved_kg(energy_kwh),
    )
