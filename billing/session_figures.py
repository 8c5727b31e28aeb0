"""A session's figures so far (energy, time, cost, power, the car's battery): the same
for the driver's session page, the API and the staff session page. The actions (start,
stop) are in the charging app.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone

from billing import tariffs
from billing.pricing import Price
from stations import sessions
from stations.models import ChargingSession


@dataclass(frozen=True)
class SessionFigures:
    energy_kwh: Decimal
    duration: timedelta
    cost: Price | None  # None: no tariff applies here
    power_kw: Decimal | None  # None: not reported, or the session has ended
    soc_percent: int | None  # None: the charger does not report the car's battery


STATE_OF_CHARGE = "SoC"  # OCPP 1.6 §7.31 Measurand, in percent
KW = Decimal("0.001")


def figures(session: ChargingSession, now: datetime | None = None) -> SessionFigures:
    """Energy, time and cost so far of a session, from billing's reading of its meter
    (the energy by the one rule of stations/sessions.py, as on the receipt).

    Power is the latest Power.Active.Import sample billing reads (W or kW, in kW
    here); it says what flows now, so an ended session has none.
    """
    now = now or timezone.now()
    usage = tariffs.usage_from_session(session, now)
    ended = session.stopped_at or now
    power_kw = None
    if usage.running and usage.power_samples:
        power_kw = (usage.power_samples[-1][1] / 1000).quantize(KW)
    return SessionFigures(
        energy_kwh=sessions.energy_kwh(usage.energy),
        duration=max(ended - session.started_at, timedelta(0)),
        cost=tariffs.cost_so_far(session, now, usage),
        power_kw=power_kw,
        soc_percent=state_of_charge(session),
    )


def state_of_charge(session: ChargingSession) -> int | None:
    """The car's battery level in the latest SoC sample of the session, in percent."""
    latest = (
        session.meter_samples.filter(
            measurand=STATE_OF_CHARGE,
            value_decimal__gte=0,  # a number at all (Raw), and a possible percentage
            value_decimal__lte=100,
        )
        .order_by("-timestamp", "-id")
        .values_list("value_decimal", flat=True)
        .first()
    )
    return None if latest is None else int(latest.quantize(Decimal(1), ROUND_HALF_UP))


def format_duration(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def staff_figures(session: ChargingSession) -> dict[str, Any]:
    """The staff session page's figures: energy and power so far, and the cost (the
    price once the session has ended), as plain strings."""
    shown = figures(session)
    return {
        "running": session.status == ChargingSession.Status.ACTIVE,
        "energy_kwh": f"{shown.energy_kwh:f}",
        "power_kw": None if shown.power_kw is None else f"{shown.power_kw:f}",
        "cost": None if shown.cost is None else f"{shown.cost.gross:f}",
        "currency": None if shown.cost is None else shown.cost.currency,
    }


def chart(session: ChargingSession) -> dict[str, list[Any]]:
    """Energy (kWh, cumulative, by the one rule) and power (kW) over the session, for a
    chart: [[ISO time, value], ...]."""
    usage = tariffs.usage_from_session(session)
    energy: list[Any] = []
    total = Decimal(0)
    for step in usage.energy:
        if not energy:
            energy.append([step.start.isoformat(), 0])
        total += step.wh
        energy.append([step.end.isoformat(), float(total / 1000)])
    power = [[at.isoformat(), float(watts / 1000)] for at, watts in usage.power_samples]
    return {"energy": energy, "power": power}
