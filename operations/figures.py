"""Uptime figures for pages and exports: the monthly summary table, MTTR and MTBF per
charger, site and model, the outage list and outages per cause.

operations/uptime.py computes; `refresh` stores its results (UptimeMonth, OutagePeriod)
so that a page over the whole network reads a few thousand summary rows, not a year of
status history. Every figure here is a sum over those rows:

- uptime % of a group: its ports' measured time, outage and excluded time added up
  (`uptime.percent`: ports weighed by their measured time, rounded down);
- MTTR (mean time to repair): outage time / outages begun in the period;
- MTBF (mean time between failures): time up (measured - outage) / outages begun.
  Both count excluded outages too: they say how the hardware behaves, not the score.
  A period without an outage has neither.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, F, Model, Q, QuerySet, Sum
from django.utils import timezone

from operations import uptime
from operations.models import OutagePeriod, UptimeMonth
from stations.models import ChargePoint, Site

BATCH = 2_000


def refresh(
    months: Sequence[date],
    charge_points: QuerySet[ChargePoint] | Iterable[ChargePoint] | None = None,
    now: datetime | None = None,
) -> int:
    """Recompute the summary rows of these months for these chargers (all by default);
    returns the number of port-months stored."""
    now = now or timezone.now()
    cps = ChargePoint.objects.all() if charge_points is None else charge_points
    results = uptime.months_uptime(cps, months, now)
    month_rows: list[tuple[Any, ...]] = []
    outage_rows: list[tuple[Any, ...]] = []
    for month, ports in results.items():
        for port in ports:
            month_start = uptime.month_bounds(month, uptime.zone_of(port.connector.charge_point))[0]
            failures = 0
            for o in port.outages:
                # Under way when the month began: last month's outage, not a new one.
                continued = o.start == month_start and port.start == month_start
                failures += not continued
                outage_rows.append(
                    (port.connector.pk, month, o.start, o.end, o.cause[:64], o.excluded, continued)
                )
            month_rows.append(
                (
                    port.connector.pk,
                    month,
                    port.period,
                    port.outage,
                    port.excluded,
                    failures,
                    port.uptime_percent,
                    now,
                )
            )
    with transaction.atomic():
        scope = Q(month__in=months)
        if charge_points is not None:
            scope &= Q(connector__charge_point__in=_ids(cps))
        UptimeMonth.objects.filter(scope).delete()
        OutagePeriod.objects.filter(scope).delete()
        _insert(UptimeMonth, MONTH_FIELDS, month_rows)
        _insert(OutagePeriod, OUTAGE_FIELDS, outage_rows)
    return len(month_rows)


MONTH_FIELDS = (
    "connector",
    "month",
    "measured",
    "outage",
    "excluded",
    "failures",
    "uptime_percent",
    "computed_at",
)
OUTAGE_FIELDS = ("connector", "month", "starts_at", "ends_at", "cause", "excluded", "continued")


def _insert(model: type[Model], fields: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert many rows: COPY on PostgreSQL (a year of a network's outages is tens of
    thousands of rows, and the nightly recompute must stay within a minute), bulk_create
    elsewhere."""
    if connection.vendor != "postgresql":
        attnames = [model._meta.get_field(name).attname for name in fields]
        model.objects.bulk_create(
            (model(**dict(zip(attnames, row, strict=True))) for row in rows), batch_size=BATCH
        )
        return
    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(f).column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _ids(charge_points: QuerySet[ChargePoint] | Iterable[ChargePoint]) -> Any:
    if isinstance(charge_points, QuerySet):
        return charge_points.values("pk")
    return [cp.pk for cp in charge_points]


# --- Reading ------------------------------------------------------------------------------


@dataclass
class Figures:
    """Uptime, MTTR and MTBF of one group of ports (a charger, a site, a model, a month)."""

    key: Any
    label: str
    measured: timedelta
    outage: timedelta
    excluded: timedelta
    failures: int
    ports: int = 0

    @property
    def uptime_percent(self) -> Decimal:
        return uptime.percent(self.measured, self.outage - self.excluded)

    @property
    def outage_minutes(self) -> Decimal:
        return uptime.minutes(self.outage)

    @property
    def excluded_minutes(self) -> Decimal:
        return uptime.minutes(self.excluded)

    @property
    def mttr(self) -> timedelta | None:
        return self.outage / self.failures if self.failures else None

    @property
    def mtbf(self) -> timedelta | None:
        return (self.measured - self.outage) / self.failures if self.failures else None


def _model_label(vendor: str, model: str) -> str:
    return " ".join(filter(None, [vendor, model])) or "—"


# What a table is grouped by: its key, and its label, out of a summary row (ROW_FIELDS).
GROUPS: dict[str, tuple[Any, Any]] = {
    "site": (lambda r: (r[4] is None, r[4]), lambda r: r[5] or "—"),
    "charge_point": (lambda r: r[2], lambda r: r[3]),
    "model": (lambda r: (r[6], r[7]), lambda r: _model_label(r[6], r[7])),
    "connector": (lambda r: (r[2], r[1]), lambda r: f"{r[3]} #{r[1]}"),
    "month": (lambda r: r[8], lambda r: f"{r[8]:%Y-%m}"),
}
ROW_FIELDS = (
    "connector_id",
    "connector__connector_id",
    "connector__charge_point_id",
    "connector__charge_point__charge_point_id",
    "connector__charge_point__site_id",
    "connector__charge_point__site__name",
    "connector__charge_point__vendor",
    "connector__charge_point__model",
    "month",
    "measured",
    "outage",
    "excluded",
    "failures",
)


def summary_rows(
    months: Sequence[date], site: Site | None = None, charge_point: ChargePoint | None = None
) -> QuerySet[UptimeMonth]:
    rows = UptimeMonth.objects.filter(month__in=months)
    if site is not None:
        rows = rows.filter(connector__charge_point__site=site)
    if charge_point is not None:
        rows = rows.filter(connector__charge_point=charge_point)
    return rows


def tables(
    groups: Sequence[str],
    months: Sequence[date],
    site: Site | None = None,
    charge_point: ChargePoint | None = None,
) -> dict[str, list[Figures]]:
    """Figures per site, charger, model, port or month over these months, several tables
    out of one read of the summary rows (added up here: one query instead of one
    aggregate over the same joins per table)."""
    # Plain lists while adding up: this runs for every port of the network on each load.
    found: dict[str, dict[Any, list[Any]]] = {group: {} for group in groups}
    keyed = [(GROUPS[group][0], found[group]) for group in groups]
    for row in summary_rows(months, site, charge_point).values_list(*ROW_FIELDS):
        _pk, *_names, measured, outage, excluded, failures = row
        for key_of, by_key in keyed:
            key = key_of(row)
            entry = by_key.get(key)
            if entry is None:
                by_key[key] = [row, measured, outage, excluded, failures, {row[0]}]
            else:
                entry[1] += measured
                entry[2] += outage
                entry[3] += excluded
                entry[4] += failures
                entry[5].add(row[0])
    return {
        group: [
            Figures(key, GROUPS[group][1](e[0]), e[1], e[2], e[3], e[4], len(e[5]))
            for key, e in sorted(found[group].items())
        ]
        for group in groups
    }


def table(
    group: str,
    months: Sequence[date],
    site: Site | None = None,
    charge_point: ChargePoint | None = None,
) -> list[Figures]:
    """Figures per site, charger, model, port or month, over these months."""
    return tables([group], months, site, charge_point)[group]


def added_up(rows: Iterable[Figures]) -> Figures:
    """The figures of several groups together (the network out of its sites)."""
    total = Figures(None, "", timedelta(), timedelta(), timedelta(), 0)
    for row in rows:
        total.measured += row.measured
        total.outage += row.outage
        total.excluded += row.excluded
        total.failures += row.failures
        total.ports += row.ports
    return total


def months_table(
    months: Sequence[date], site: Site | None = None, charge_point: ChargePoint | None = None
) -> list[Figures]:
    """Figures per month, added up by the database (a year of a network is many rows)."""
    rows = (
        summary_rows(months, site, charge_point)
        .values("month")
        .annotate(
            m=Sum("measured"),
            o=Sum("outage"),
            x=Sum("excluded"),
            f=Sum("failures"),
            p=Count("connector"),
        )
        .order_by("month")
    )
    return [
        Figures(r["month"], f"{r['month']:%Y-%m}", r["m"], r["o"], r["x"], r["f"], r["p"])
        for r in rows
    ]


def network(
    months: Sequence[date], site: Site | None = None, charge_point: ChargePoint | None = None
) -> Figures:
    """All the ports in scope together."""
    return added_up(months_table(months, site, charge_point))


def outage_list(
    months: Sequence[date], site: Site | None = None, charge_point: ChargePoint | None = None
) -> QuerySet[OutagePeriod]:
    """The outages of these months, newest first, with their port, charger and site."""
    rows = OutagePeriod.objects.filter(month__in=months).select_related(
        "connector__charge_point__site"
    )
    if site is not None:
        rows = rows.filter(connector__charge_point__site=site)
    if charge_point is not None:
        rows = rows.filter(connector__charge_point=charge_point)
    return rows.order_by("-starts_at", "-id")


def outages_by_cause(
    months: Sequence[date], site: Site | None = None, charge_point: ChargePoint | None = None
) -> list[dict[str, Any]]:
    """[{"cause", "outages" (begun in the period), "duration"}], the most frequent first."""
    rows = (
        outage_list(months, site, charge_point)
        .order_by()
        .values("cause")
        .annotate(
            outages=Count("id", filter=Q(continued=False)),
            duration=Sum(F("ends_at") - F("starts_at")),
        )
        .order_by("-outages", "cause")
    )
    return list(rows)


# --- The report, cached -------------------------------------------------------------------

# A page's figures are kept this long at most (seconds); any refresh of the summary
# changes their key sooner.
REPORT_CACHE_SECONDS = 15 * 60


@dataclass
class Report:
    """What the uptime report shows for one month (and the 12 ending with it)."""

    by_month: list[Figures]
    tables: dict[str, list[Figures]]  # the month's, per site, charger and model
    causes: list[dict[str, Any]]
    computed_at: datetime | None


def report(
    month: date, site: Site | None = None, charge_point: ChargePoint | None = None
) -> Report:
    """The report's figures, from the cache while the summary has not changed since.

    The key holds the summary's newest row (the highest id, an index lookup): every
    refresh, and so every exclusion saved, writes new rows, so the next load computes
    afresh. (Rows only deleted, with a charger, show until REPORT_CACHE_SECONDS.)
    """
    newest = UptimeMonth.objects.order_by("-pk").values_list("pk", "computed_at").first()
    version, computed_at = newest or (None, None)
    key = "operations:uptime-report:{}:{}:{}:{}".format(
        version,
        month.isoformat(),
        site.pk if site else "",
        charge_point.pk if charge_point else "",
    )
    found = cache.get(key)
    if found is not None:
        return found
    months = uptime.previous_months(month)
    figures = Report(
        by_month=months_table(months, site, charge_point),
        tables=tables(["site", "charge_point", "model"], [month], site, charge_point),
        causes=outages_by_cause([month], site, charge_point),
        computed_at=computed_at,
    )
    cache.set(key, figures, REPORT_CACHE_SECONDS)
    return figures


def warm_network_report() -> None:
    """Compute this month's network report into the cache, so that the first staff load
    after a refresh of the summary reads it instead of computing it (the beat tasks call it)."""
    report(uptime.current_month())
