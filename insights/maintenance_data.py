"""Predictive maintenance's database side: each charger's daily figures, assessed
(insights/maintenance.py) and stored as ChargerRisk rows; and the admin's "create
inspection ticket" (through operations/inspections.py, the one owner of inspections).

Daily figures (UTC days): faults are StatusNotifications with Faulted; boots are the
accepted BootNotifications (operations' ChargerBoot); starts are sessions begun, failed
starts those that ended having delivered less than FAILED_START_WH; the power figures
are the Power.Active.Import samples: delivered is their sum (kW), possible the rated kW
of the connector for each sample, so the shortfall is 1 - mean power / rated power
while charging.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from insights import maintenance
from insights.maintenance import Charger, Day
from insights.models import ChargerRisk
from operations import inspections
from operations.models import ChargerBoot, Ticket
from stations.models import ChargePoint, ChargingSession, Connector, MeterSample, StatusEvent

# A session that delivered less than this never really charged: the start failed.
FAILED_START_WH = 100
POWER = "Power.Active.Import"


def _key(charge_point_id: int, day: Any) -> tuple[int, date]:
    return charge_point_id, day if isinstance(day, date) else day.date()


def daily_figures(start: date, end: date) -> list[Charger]:
    """Every charger's figures per day in [start, end)."""
    since = datetime.combine(start, time(0), tzinfo=UTC)
    until = since + timedelta(days=(end - start).days)
    counts: dict[tuple[int, date], dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def add(rows: Any, charger: str, field: str) -> None:
        for row in rows:
            counts[_key(row[charger], row["day"])][field] += float(row["n"] or 0)

    add(
        StatusEvent.objects.filter(
            status=Connector.Status.FAULTED, timestamp__gte=since, timestamp__lt=until
        )
        .annotate(day=TruncDate("timestamp", tzinfo=UTC))
        .values("connector__charge_point_id", "day")
        .annotate(n=Count("pk")),
        "connector__charge_point_id",
        "faults",
    )
    add(
        ChargerBoot.objects.filter(at__gte=since, at__lt=until)
        .annotate(day=TruncDate("at", tzinfo=UTC))
        .values("charge_point_id", "day")
        .annotate(n=Count("pk")),
        "charge_point_id",
        "boots",
    )
    sessions = (
        ChargingSession.objects.filter(started_at__gte=since, started_at__lt=until)
        .annotate(day=TruncDate("started_at", tzinfo=UTC))
        .values("charge_point_id", "day")
    )
    add(sessions.annotate(n=Count("pk")), "charge_point_id", "starts")
    add(
        sessions.annotate(
            n=Count(
                "pk",
                filter=Q(status=ChargingSession.Status.COMPLETED, energy_wh__lt=FAILED_START_WH),
            )
        ),
        "charge_point_id",
        "failed_starts",
    )
    power = (
        MeterSample.objects.filter(
            measurand=POWER, phase="", timestamp__gte=since, timestamp__lt=until
        )
        .annotate(day=TruncDate("timestamp", tzinfo=UTC))
        .values("charge_point_id", "day")
    )
    # OCPP 1.6 §7.31: power comes in W (the default) or kW.
    add(
        power.annotate(n=Sum("value_decimal", filter=~Q(unit__iexact="kW"))),
        "charge_point_id",
        "delivered_w",
    )
    add(
        power.annotate(n=Sum("value_decimal", filter=Q(unit__iexact="kW"))),
        "charge_point_id",
        "delivered_kw",
    )
    add(power.annotate(n=Count("pk")), "charge_point_id", "samples")
    rated = _rated_kw()
    chargers = []
    days_by_charger: dict[int, dict[date, Day]] = defaultdict(dict)
    for (charge_point_id, day), figures in counts.items():
        samples = figures.get("samples", 0.0)
        days_by_charger[charge_point_id][day] = Day(
            faults=int(figures.get("faults", 0)),
            boots=int(figures.get("boots", 0)),
            starts=int(figures.get("starts", 0)),
            failed_starts=int(figures.get("failed_starts", 0)),
            delivered_kwh=figures.get("delivered_w", 0.0) / 1000 + figures.get("delivered_kw", 0.0),
            possible_kwh=samples * rated.get(charge_point_id, 0.0),
        )
    for charge_point in ChargePoint.objects.only("pk", "charge_point_id", "model"):
        chargers.append(
            Charger(
                str(charge_point.pk),
                charge_point.model or _("unknown model"),
                days_by_charger.get(charge_point.pk, {}),
            )
        )
    return chargers


def _rated_kw() -> dict[int, float]:
    """The highest rated power of each charger's connectors (kW)."""
    rated: dict[int, float] = {}
    for charge_point_id, kw in Connector.objects.values_list("charge_point_id", "max_power_kw"):
        rated[charge_point_id] = max(rated.get(charge_point_id, 0.0), float(kw or 0))
    return rated


def assess_all(today: date | None = None) -> int:
    """Assess every charger on `today` (UTC) and replace the stored risks; the flagged."""
    today = today or timezone.now().astimezone(UTC).date()
    first = today - timedelta(days=maintenance.RECENT_DAYS + maintenance.BASELINE_DAYS)
    risks = maintenance.assess(daily_figures(first, today), today)
    with transaction.atomic():
        ChargerRisk.objects.all().delete()
        ChargerRisk.objects.bulk_create(
            ChargerRisk(
                charge_point_id=int(risk.key),
                assessed_on=today,
                score=risk.score,
                flagged=risk.flagged,
                evidence=[
                    {
                        "metric": e.metric,
                        "recent": round(e.recent, 4),
                        "own": None if e.own is None else round(e.own, 4),
                        "peers": None if e.peers is None else round(e.peers, 4),
                        "risk": e.risk,
                    }
                    for e in risk.evidence
                ],
            )
            for risk in risks
        )
    return sum(risk.flagged for risk in risks)


def metric_label(metric: str) -> str:
    return {
        maintenance.FAULTS: _("faults a day"),
        maintenance.FAILED_STARTS: _("share of starts that failed"),
        maintenance.BOOTS: _("boots a day"),
        maintenance.SHORTFALL: _("power shortfall"),
    }.get(metric, metric)


def describe(evidence: list[dict[str, Any]]) -> str:
    """The evidence in one line for staff: "faults a day 0.86 (own 0.05, model 0.04)"."""

    def figure(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return "; ".join(
        _("%(metric)s %(recent)s (own %(own)s, model %(peers)s)")
        % {
            "metric": metric_label(e["metric"]),
            "recent": figure(e["recent"]),
            "own": figure(e["own"]),
            "peers": figure(e["peers"]),
        }
        for e in evidence
    )


def open_inspection(risk: ChargerRisk) -> tuple[Ticket, bool]:
    """The charger's inspection ticket for this risk, opened or joined (one open per
    charger: operations/inspections.py); (ticket, created)."""
    return inspections.open_for_charger(
        risk.charge_point,
        reason=_("Predictive maintenance: risk %(score).1f. %(evidence)s")
        % {"score": risk.score, "evidence": describe(risk.evidence)},
        evidence={
            "risk": risk.score,
            "assessed_on": risk.assessed_on.isoformat(),
            "metrics": risk.evidence,
        },
    )
