"""The dashboards' figures, from the summary tables only (insights/rollup.py writes them).

Each figure is a `Table`: columns and rows (what the CSV export gives) and how to chart
it. The pages (insights/views.py), the CSV and the monthly report all read these.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import Invoice, SessionCharge
from billing.money import round_to_ore
from insights import refusals
from insights.models import (
    ConnectorHour,
    CustomerKind,
    DriverMonth,
    SearchRecord,
    SessionMix,
    SiteDay,
)
from insights.rollup import ENERGY_EDGES_KWH, LENGTH_EDGES_MINUTES, hour_of_week
from stations.models import Connector, Site
from users.models import User

# A connector delivering under this share of its rating (while charging, on average) is
# flagged slow; a driver's car under this share of the network's median, too.
SLOW_CHARGER_SHARE = 0.6
SLOW_VEHICLE_SHARE = 0.5
SHOWN_SITES = 5  # busiest and idlest
DAYS_PER = {"day": Decimal(1), "week": Decimal(7), "month": Decimal("30.4375")}  # 365.25 / 12


@dataclass(frozen=True)
class Scope:
    """The filters of every dashboard: a site (or all), the days (inclusive, local), the
    connector type (or all), and how to group days (day, week, month)."""

    start: date
    end: date
    site: Site | None = None
    connector_type: str = ""
    per: str = "day"
    # Tables one page asks for twice (busiest and idlest reuse the per-site table).
    computed: dict[str, "Table"] = field(default_factory=dict, compare=False, repr=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.site.time_zone if self.site else settings.TIME_ZONE)

    @property
    def site_ids(self) -> list[int] | None:
        """The site's id in a list, None for every site."""
        return [self.site.pk] if self.site else None

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(), self.zone)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), self.zone)

    @property
    def periods(self) -> Decimal:
        """How many days, weeks or months (`per`) the scope spans: 30.4375 days a month."""
        return Decimal((self.end - self.start).days + 1) / DAYS_PER.get(self.per, Decimal(1))

    def hours(self) -> Q:
        condition = Q(hour__gte=self.starts_at, hour__lt=self.ends_at)
        if self.site:
            condition &= Q(site=self.site)
        if self.connector_type:
            condition &= Q(connector__connector_type=self.connector_type)
        return condition

    def days(self) -> Q:
        condition = Q(day__gte=self.start, day__lte=self.end)
        if self.site:
            condition &= Q(site=self.site)
        if self.connector_type:
            condition &= Q(connector_type=self.connector_type)
        return condition


@dataclass
class Table:
    """One table behind one chart: `chart` is "bar", "line", "heatmap" or "" (none);
    the first column labels the x axis, `series` names the charted columns."""

    name: str  # in URLs: the CSV's address
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    chart: str = "bar"
    series: list[int] = field(default_factory=lambda: [1])
    note: str = ""  # one line under the title: how to read it


def _connectors(scope: Scope) -> dict[int, int]:
    """Public connectors per site (the denominator of utilisation)."""
    connectors = Connector.objects.filter(connector_id__gt=0, charge_point__site__isnull=False)
    if scope.site:
        connectors = connectors.filter(charge_point__site=scope.site)
    if scope.connector_type:
        connectors = connectors.filter(connector_type=scope.connector_type)
    counts = connectors.values("charge_point__site_id").annotate(n=Count("id"))
    return {row["charge_point__site_id"]: row["n"] for row in counts}


def _percent(part: float, whole: float) -> Decimal:
    return (
        Decimal(0) if not whole else (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"))
    )


def _kwh(wh: int | None) -> Decimal:
    return (Decimal(wh or 0) / 1000).quantize(Decimal("0.001"))


def _site_names(ids: Any) -> dict[int, str]:
    return dict(Site.objects.filter(pk__in=list(ids)).values_list("pk", "name"))


# --- Utilisation ---


def utilisation_by_site(scope: Scope) -> Table:
    """Share of the connectors' time occupied (a session ran) and charging, per site."""
    if "utilisation" not in scope.computed:
        scope.computed["utilisation"] = _utilisation_by_site(scope)
    return scope.computed["utilisation"]


def _utilisation_by_site(scope: Scope) -> Table:
    seconds = (scope.ends_at - scope.starts_at).total_seconds()
    connectors = _connectors(scope)
    sums = (
        ConnectorHour.objects.filter(scope.hours())
        .values("site_id")
        .annotate(occupied=Sum("occupied_seconds"), charging=Sum("charging_seconds"))
    )
    names = _site_names(connectors)
    rows = []
    for row in sums:
        capacity = connectors.get(row["site_id"], 0) * seconds
        rows.append(
            [
                names.get(row["site_id"], "?"),
                _percent(row["occupied"], capacity),
                _percent(row["charging"], capacity),
            ]
        )
    seen = {row[0] for row in rows}
    rows += [[name, Decimal(0), Decimal(0)] for pk, name in names.items() if name not in seen]
    rows.sort(key=lambda row: (-row[1], row[0]))
    return Table(
        "utilisation",
        _("Occupied and charging, share of time per site (%)"),
        [_("Site"), _("Occupied (%)"), _("Charging (%)")],
        rows,
        series=[1, 2],
    )


def busiest_and_idlest(scope: Scope) -> Table:
    """The sites most and least occupied (of utilisation_by_site)."""
    rows = utilisation_by_site(scope).rows
    busiest = [[_("Busiest"), *row] for row in rows[:SHOWN_SITES]]
    idlest = [[_("Idlest"), *row] for row in rows[::-1][:SHOWN_SITES]]
    return Table(
        "busiest",
        _("Busiest and idlest sites"),
        [_("Which"), _("Site"), _("Occupied (%)"), _("Charging (%)")],
        busiest + idlest,
        chart="",
    )


def energy_and_sessions(scope: Scope) -> Table:
    """Energy (kWh) and sessions per day, week or month."""
    rows = SiteDay.objects.filter(scope.days())
    key = "day"
    if scope.per in ("week", "month"):
        key = "period"
        rows = rows.annotate(period=TruncWeek("day") if scope.per == "week" else TruncMonth("day"))
    sums = (
        rows.values(key).annotate(sessions=Sum("sessions"), energy=Sum("energy_wh")).order_by(key)
    )
    return Table(
        "energy",
        _("Energy and sessions per %(period)s") % {"period": _period_label(scope.per)},
        [_("Period"), _("Energy (kWh)"), _("Sessions")],
        [[_day(row[key]), _kwh(row["energy"]), row["sessions"]] for row in sums],
        chart="line",
        series=[1, 2],
    )


def _day(value: date | datetime) -> str:
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def _period_label(per: str) -> str:
    return {"week": _("week"), "month": _("month")}.get(per, _("day"))


def hours_of_week_in(scope: Scope) -> list[int]:
    """How many times each hour of the week (0-167) occurs in the scope, local time."""
    counts = [0] * 168
    hour = scope.starts_at.astimezone(UTC)  # stepping in UTC: every real hour once
    while hour < scope.ends_at:
        counts[hour_of_week(hour, scope.zone)] += 1
        hour += timedelta(hours=1)
    return counts


def occupancy_heatmap(scope: Scope) -> Table:
    """Share of the connectors occupied at each hour of the week (rows: weekdays)."""
    occurrences = hours_of_week_in(scope)
    connectors = sum(_connectors(scope).values())
    sums = dict(
        ConnectorHour.objects.filter(scope.hours())
        .values("hour_of_week")
        .annotate(occupied=Sum("occupied_seconds"))
        .values_list("hour_of_week", "occupied")
    )
    days = [
        _("Monday"),
        _("Tuesday"),
        _("Wednesday"),
        _("Thursday"),
        _("Friday"),
        _("Saturday"),
        _("Sunday"),
    ]
    rows = []
    for day, name in enumerate(days):
        cells = []
        for hour in range(24):
            index = day * 24 + hour
            cells.append(_percent(sums.get(index, 0), occurrences[index] * 3600 * connectors))
        rows.append([name, *cells])
    return Table(
        "heatmap",
        _("Occupancy by hour of the week (%)"),
        [_("Day"), *[f"{hour:02d}" for hour in range(24)]],
        rows,
        chart="heatmap",
        series=list(range(1, 25)),
    )


def turned_away(scope: Scope) -> Table:
    """Drivers turned away per day: searches that found nothing free (anywhere: a search
    has no site) and starts refused at a charger (Authorize or StartTransaction)."""
    searches = SearchRecord.objects.filter(hour__gte=scope.starts_at, hour__lt=scope.ends_at)
    if scope.connector_type:
        searches = searches.filter(connector_type=scope.connector_type)
    counts: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for hour, found_free, n in (
        searches.values("hour", "found_free")
        .annotate(n=Count("id"))
        .values_list("hour", "found_free", "n")
    ):
        counts[hour.astimezone(scope.zone).date()][0 if found_free else 1] += n
    refused = refusals.refused_starts(scope.starts_at, scope.ends_at, scope.site_ids)
    for at in refused.values_list("at", flat=True):
        counts[at.astimezone(scope.zone).date()][2] += 1
    return Table(
        "turned_away",
        _("Drivers turned away per day"),
        [_("Day"), _("Nothing free"), _("Refused at a charger"), _("Found a free connector")],
        [
            [day.isoformat(), counts[day][1], counts[day][2], counts[day][0]]
            for day in sorted(counts)
        ],
        series=[1, 2, 3],
    )


def turned_away_by_site(scope: Scope) -> Table:
    """Starts refused at each site's chargers: Authorize and StartTransaction answered
    with another status than Accepted (Invalid, Blocked, Expired, ConcurrentTx)."""
    counts = refusals.counts_by_site(scope.starts_at, scope.ends_at, scope.site_ids)
    names = _site_names(counts)
    rows = [
        [
            names.get(site_id, "?"),
            actions["Authorize"],
            actions["StartTransaction"],
            actions["Authorize"] + actions["StartTransaction"],
        ]
        for site_id, actions in counts.items()
    ]
    rows.sort(key=lambda row: (-row[3], row[0]))
    return Table(
        "turned_away_site",
        _("Starts refused at the chargers, per site"),
        [_("Site"), _("Authorize refused"), _("StartTransaction refused"), _("Turned away")],
        rows,
        series=[1, 2],
    )


def _use_row(occupied: int, charging: int, capacity: float, energy: int, sessions: int,
             scope: Scope) -> list[Any]:  # fmt: skip
    per_period = (Decimal(sessions) / scope.periods).quantize(Decimal("0.1"))
    return [
        _percent(occupied, capacity),
        _percent(charging, capacity),
        _kwh(energy),
        sessions,
        per_period,
    ]


def _use_columns(scope: Scope) -> list[str]:
    return [
        _("Occupied (%)"),
        _("Charging (%)"),
        _("Energy (kWh)"),
        _("Sessions"),
        _("Sessions per %(period)s") % {"period": _period_label(scope.per)},
    ]


def _scope_connectors(scope: Scope) -> Any:
    """The public connectors of the scope, with their charger (the rows of the
    per-charger and per-connector tables)."""
    connectors = Connector.objects.filter(connector_id__gt=0, charge_point__site__isnull=False)
    if scope.site:
        connectors = connectors.filter(charge_point__site=scope.site)
    if scope.connector_type:
        connectors = connectors.filter(connector_type=scope.connector_type)
    return connectors


def _connector_use(scope: Scope) -> dict[int, dict[str, int]]:
    return {
        row["connector_id"]: row
        for row in ConnectorHour.objects.filter(scope.hours())
        .values("connector_id")
        .annotate(
            occupied=Sum("occupied_seconds"),
            charging=Sum("charging_seconds"),
            energy=Sum("energy_wh"),
            sessions=Sum("sessions"),
        )
    }


def utilisation_by_charger(scope: Scope) -> Table:
    """Per charger: share of its connectors' time occupied and charging, energy and
    sessions (with their average per day, week or month)."""
    seconds = (scope.ends_at - scope.starts_at).total_seconds()
    use = _connector_use(scope)
    chargers: dict[int, list[Any]] = {}
    for pk, charger_pk, charger_id, site in _scope_connectors(scope).values_list(
        "pk", "charge_point_id", "charge_point__charge_point_id", "charge_point__site__name"
    ):
        total = chargers.setdefault(charger_pk, [site, charger_id, 0, 0, 0, 0, 0])
        total[2] += 1
        for index, key in enumerate(("occupied", "charging", "energy", "sessions"), start=3):
            total[index] += use.get(pk, {}).get(key) or 0
    rows = [
        [site, charger_id, n, *_use_row(occupied, charging, n * seconds, energy, sessions, scope)]
        for site, charger_id, n, occupied, charging, energy, sessions in chargers.values()
    ]
    rows.sort(key=lambda row: (-row[3], row[0], row[1]))
    return Table(
        "utilisation_charger",
        _("Utilisation per charger"),
        [_("Site"), _("Charger"), _("Connectors"), *_use_columns(scope)],
        rows,
        series=[3, 4],
    )


def utilisation_by_connector(scope: Scope) -> Table:
    """Per connector: share of its time occupied and charging, energy and sessions."""
    seconds = (scope.ends_at - scope.starts_at).total_seconds()
    use = _connector_use(scope)
    rows = []
    for pk, number, kind, rated, charger_id, site in _scope_connectors(scope).values_list(
        "pk",
        "connector_id",
        "connector_type",
        "max_power_kw",
        "charge_point__charge_point_id",
        "charge_point__site__name",
    ):
        row = use.get(pk, {})
        rows.append(
            [
                f"{charger_id}/{number}",
                site,
                kind,
                rated,
                *_use_row(
                    row.get("occupied") or 0,
                    row.get("charging") or 0,
                    seconds,
                    row.get("energy") or 0,
                    row.get("sessions") or 0,
                    scope,
                ),
            ]
        )
    rows.sort(key=lambda row: (-row[4], row[1], row[0]))
    return Table(
        "utilisation_connector",
        _("Utilisation per connector"),
        [_("Connector"), _("Site"), _("Connector type"), _("Rated (kW)"), *_use_columns(scope)],
        rows,
        series=[4, 5],
    )


# --- Charging patterns and speed ---


def session_shape(scope: Scope) -> Table:
    """Average session per day: plugged-in time, charging, idle after full, energy."""
    sums = (
        SiteDay.objects.filter(scope.days())
        .values("day")
        .annotate(
            sessions=Sum("sessions"),
            duration=Sum("duration_minutes"),
            charging=Sum("charging_minutes"),
            idle=Sum("idle_minutes"),
            energy=Sum("energy_wh"),
        )
        .order_by("day")
    )
    rows = []
    for row in sums:
        n = row["sessions"] or 1
        rows.append(
            [
                row["day"].isoformat(),
                (row["duration"] / n).quantize(Decimal("0.1")),
                (row["charging"] / n).quantize(Decimal("0.1")),
                (row["idle"] / n).quantize(Decimal("0.1")),
                _kwh(row["energy"] // n),
            ]
        )
    return Table(
        "session_shape",
        _("Average session per day"),
        [
            _("Day"),
            _("Plugged in (min)"),
            _("Charging (min)"),
            _("Idle after full (min)"),
            _("Energy (kWh)"),
        ],
        rows,
        chart="line",
        series=[1, 2, 3],
    )


def arrivals(scope: Scope) -> Table:
    """Sessions begun per local hour of the day."""
    by_hour = [0] * 24
    sums = (
        ConnectorHour.objects.filter(scope.hours())
        .values("hour_of_week")
        .annotate(n=Sum("sessions"))
    )
    for row in sums:
        by_hour[row["hour_of_week"] % 24] += row["n"]
    return Table(
        "arrivals",
        _("Arrivals per hour of the day"),
        [_("Hour"), _("Sessions")],
        [[f"{hour:02d}", n] for hour, n in enumerate(by_hour)],
    )


def delivered_power(scope: Scope) -> Table:
    """Average power while charging against the connector's rating; slow ones flagged."""
    sums = (
        ConnectorHour.objects.filter(scope.hours())
        .values("connector_id")
        .annotate(energy=Sum("energy_wh"), charging=Sum("charging_seconds"))
    )
    connectors = {
        c.pk: c
        for c in Connector.objects.filter(
            pk__in=[row["connector_id"] for row in sums]
        ).select_related("charge_point")
    }
    rows = []
    for row in sums:
        connector = connectors[row["connector_id"]]
        if not row["charging"]:
            continue
        kw = Decimal(row["energy"]) * 3600 / row["charging"] / 1000
        share = kw / connector.max_power_kw if connector.max_power_kw else Decimal(0)
        rows.append(
            [
                f"{connector.charge_point.charge_point_id}/{connector.connector_id}",
                connector.max_power_kw,
                kw.quantize(Decimal("0.1")),
                (share * 100).quantize(Decimal("0.1")),
                _("slow") if share < Decimal(str(SLOW_CHARGER_SHARE)) else "",
            ]
        )
    rows.sort(key=lambda row: row[3])
    return Table(
        "delivered_power",
        _("Delivered power against rated power per connector"),
        [_("Connector"), _("Rated (kW)"), _("Delivered (kW)"), _("Share of rated (%)"), _("Flag")],
        rows,
        series=[3],
    )


def slow_vehicles(scope: Scope) -> Table:
    """Drivers whose cars take far less than the connectors offer (their own limit)."""
    months = DriverMonth.objects.filter(month__gte=scope.start.replace(day=1), month__lte=scope.end)
    sums = months.values("user_id").annotate(energy=Sum("energy_wh"), rated=Sum("rated_wh"))
    shares = sorted((row["energy"] / row["rated"], row["user_id"]) for row in sums if row["rated"])
    if not shares:
        return Table(
            "slow_vehicles", _("Slow vehicles"), [_("Driver"), _("Share of rated (%)")], chart=""
        )
    median = shares[len(shares) // 2][0]
    slow = [(share, user) for share, user in shares if share < median * SLOW_VEHICLE_SHARE]
    emails = dict(
        User.objects.filter(pk__in=[user for _share, user in slow]).values_list("pk", "email")
    )
    return Table(
        "slow_vehicles",
        _("Slow vehicles (under half the network's median share of rated power)"),
        [_("Driver"), _("Share of rated (%)")],
        [[emails.get(user, user), _percent(share, 1)] for share, user in slow],
        chart="",
    )


def _histogram(scope: Scope, field_name: str, edges: tuple[int, ...], unit: str) -> list[list[Any]]:
    counts = dict(
        SessionMix.objects.filter(scope.days())
        .values(field_name)
        .annotate(n=Sum("sessions"))
        .values_list(field_name, "n")
    )
    total = sum(counts.values())
    rows = []
    for low, high in zip(edges, [*edges[1:], None], strict=True):
        label = f"{low}-{high} {unit}" if high is not None else f"{low}+ {unit}"
        rows.append([label, counts.get(low, 0), _percent(counts.get(low, 0), total)])
    return rows


def session_lengths(scope: Scope) -> Table:
    """How many sessions were plugged in how long (buckets of LENGTH_EDGES_MINUTES,
    each from its edge up to the next)."""
    return Table(
        "session_lengths",
        _("Distribution of session length (plugged in)"),
        [_("Minutes"), _("Sessions"), _("Share (%)")],
        _histogram(scope, "length_minutes", LENGTH_EDGES_MINUTES, "min"),
    )


def session_energies(scope: Scope) -> Table:
    """How many sessions took how much energy (buckets of ENERGY_EDGES_KWH)."""
    return Table(
        "session_energies",
        _("Distribution of energy per session"),
        [_("kWh"), _("Sessions"), _("Share (%)")],
        _histogram(scope, "energy_kwh", ENERGY_EDGES_KWH, "kWh"),
    )


def _shares(rows: Any, label: Any) -> list[list[Any]]:
    sessions = sum(row["sessions"] for row in rows)
    energy = sum(row["energy"] for row in rows)
    return [
        [
            label(row),
            row["sessions"],
            _percent(row["sessions"], sessions),
            _kwh(row["energy"]),
            _percent(row["energy"], energy),
        ]
        for row in rows
    ]


def _share_columns(first: str) -> list[str]:
    return [first, _("Sessions"), _("Share (%)"), _("Energy (kWh)"), _("Energy share (%)")]


def power_classes(scope: Scope) -> Table:
    """Share of sessions and energy by the connector's power class
    (SessionMix.PowerClass, insights/rollup.py power_class)."""
    sums = list(
        SessionMix.objects.filter(scope.days())
        .values("power_class")
        .annotate(sessions=Sum("sessions"), energy=Sum("energy_wh"))
    )
    order = list(SessionMix.PowerClass.values)
    sums.sort(key=lambda row: order.index(row["power_class"]))
    return Table(
        "power_classes",
        _("Sessions and energy by power class"),
        _share_columns(_("Power class")),
        _shares(sums, lambda row: str(SessionMix.PowerClass(row["power_class"]).label)),
        series=[2, 4],
    )


def connector_types(scope: Scope) -> Table:
    """Share of sessions and energy by connector type."""
    sums = list(
        SiteDay.objects.filter(scope.days())
        .values("connector_type")
        .annotate(sessions=Sum("sessions"), energy=Sum("energy_wh"))
        .order_by("connector_type")
    )
    return Table(
        "connector_types",
        _("Sessions and energy by connector type"),
        _share_columns(_("Connector type")),
        _shares(sums, lambda row: row["connector_type"]),
        series=[2, 4],
    )


# --- Revenue ---


def _money() -> dict[str, Sum]:
    """The sums behind the revenue columns (`_money_columns`)."""
    return {
        "gross": Sum("gross"),
        "net": Sum("net"),
        "energy": Sum("energy_wh"),
        "sessions": Sum("sessions"),
        "fee_gross": Sum("fee_gross"),
    }


def _money_header() -> list[str]:
    return [
        _("Total incl. VAT (SEK)"),
        _("Net (SEK)"),
        _("Sessions"),
        _("Of which no-show fees (SEK)"),
        _("Paid per kWh (SEK)"),
    ]


def _fees_note() -> str:
    return _(
        "Totals include the no-show fees of bookings; paid per kWh is the sessions' money "
        "over their energy, without the fees."
    )


def _revenue_by(scope: Scope, field_name: str, name: str, title: str, label: str) -> Table:
    sums = (
        SiteDay.objects.filter(scope.days())
        .values(field_name)
        .annotate(**_money())
        .order_by(field_name)
    )
    names = _site_names(row["site_id"] for row in sums) if field_name == "site_id" else {}
    rows = []
    for row in sums:
        key = row[field_name]
        shown = names.get(key, key) if field_name == "site_id" else key
        if field_name == "method":
            shown = (
                str(SessionCharge.Method(key).label) if key in SessionCharge.Method.values else key
            )
        rows.append([shown or _("(none)"), *_money_columns(row)])
    return Table(name, title, [label, *_money_header()], rows, note=_fees_note())


def paid_per_kwh(session_gross: Decimal, energy_wh: Decimal | int) -> Decimal:
    """What was actually paid per kWh (VAT included): the sessions' money (no no-show
    fees: they buy no energy) over their energy, rounded once."""
    return round_to_ore(session_gross * 1000 / energy_wh) if energy_wh else Decimal(0)


def revenue_by_site(scope: Scope) -> Table:
    return _revenue_by(scope, "site_id", "revenue_site", _("Revenue per site"), _("Site"))


def revenue_by_method(scope: Scope) -> Table:
    return _revenue_by(
        scope, "method", "revenue_method", _("Revenue per payment method"), _("Paid by")
    )


def _customer_label(kind: str, group: str) -> str:
    """A fleet's, plan's or staff group's name; else what kind of customer it is."""
    return group or (str(CustomerKind(kind).label) if kind in CustomerKind.values else kind)


def _money_columns(row: dict[str, Any]) -> list[Any]:
    """Total, net, sessions, of which no-show fees, paid per kWh (`_money_header`)."""
    return [
        round_to_ore(row["gross"]),
        round_to_ore(row["net"]),
        row["sessions"],
        round_to_ore(row["fee_gross"]),
        paid_per_kwh(row["gross"] - row["fee_gross"], row["energy"]),
    ]


def _by_customer(scope: Scope, monthly: bool = False) -> Any:
    days = SiteDay.objects.filter(scope.days())
    by = ["customer_kind", "customer_group"]
    if monthly:
        days, by = days.annotate(period=TruncMonth("day")), ["period", *by]
    return days.values(*by).annotate(**_money()).order_by(*by)


def revenue_by_group(scope: Scope) -> Table:
    """Revenue per customer: each fleet, plan and staff group by name, and the drivers in
    none, guests and sessions without an account (insights.rollup.customer_of)."""
    return Table(
        "revenue_group",
        _("Revenue per customer group"),
        [_("Customer group"), _("Kind"), *_money_header()],
        [
            [
                _customer_label(row["customer_kind"], row["customer_group"]),
                _customer_label(row["customer_kind"], ""),
                *_money_columns(row),
            ]
            for row in _by_customer(scope)
        ],
        series=[2],
        note=_fees_note(),
    )


def revenue_by_group_and_month(scope: Scope) -> Table:
    """The same per month (months of the days chosen)."""
    return Table(
        "revenue_group_month",
        _("Revenue per customer group and month"),
        [_("Month"), _("Customer group"), _("Kind"), *_money_header()],
        [
            [
                _day(row["period"])[:7],
                _customer_label(row["customer_kind"], row["customer_group"]),
                _customer_label(row["customer_kind"], ""),
                *_money_columns(row),
            ]
            for row in _by_customer(scope, monthly=True)
        ],
        chart="",
        note=_fees_note(),
    )


def revenue_by_month(scope: Scope) -> Table:
    sums = (
        SiteDay.objects.filter(scope.days())
        .annotate(period=TruncMonth("day"))
        .values("period")
        .annotate(**_money())
        .order_by("period")
    )
    return Table(
        "revenue_month",
        _("Revenue per month"),
        [_("Month"), *_money_header()],
        [[_day(row["period"])[:7], *_money_columns(row)] for row in sums],
        chart="line",
        note=_fees_note(),
    )


def unpaid_and_overdue(today: date | None = None) -> Table:
    """Money not in yet, now: failed and pending payments of sessions and of no-show fees
    (both SessionCharges), invoices past due.
    Read from billing's rows by their status (indexed), not from the summaries: it is
    today's state, not history."""
    today = today or timezone.localdate()
    charges = SessionCharge.objects.filter(
        status__in=[SessionCharge.Status.FAILED, SessionCharge.Status.PENDING]
    ).aggregate(total=Sum("gross"), n=Count("id"))
    overdue = Invoice.objects.filter(
        kind=Invoice.Kind.INVOICE, paid_at__isnull=True, due_at__lt=today
    ).aggregate(total=Sum("gross"), n=Count("id"))
    return Table(
        "unpaid",
        _("Unpaid and overdue"),
        [_("What"), _("Amount (SEK)"), _("Count")],
        [
            [
                _("Payments of sessions and no-show fees failed or pending"),
                charges["total"] or Decimal("0.00"),
                charges["n"],
            ],
            [_("Invoices past their due date"), overdue["total"] or Decimal("0.00"), overdue["n"]],
        ],
        chart="",
    )


# --- Drivers ---


def _months(scope: Scope) -> Q:
    return Q(month__gte=scope.start.replace(day=1), month__lte=scope.end)


def active_drivers(scope: Scope) -> Table:
    """Drivers with a session, and sign-ups, per month; sessions per active driver."""
    active = {
        row["month"]: row
        for row in DriverMonth.objects.filter(_months(scope))
        .values("month")
        .annotate(drivers=Count("user_id"), sessions=Sum("sessions"))
    }
    signups: dict[date, int] = {}
    for row in (  # one grouped query on users: sign-ups are not summarised
        User.objects.filter(date_joined__gte=scope.starts_at, date_joined__lt=scope.ends_at)
        .annotate(period=TruncMonth("date_joined"))
        .values("period")
        .annotate(n=Count("id"))
    ):
        signups[timezone.localtime(row["period"]).date().replace(day=1)] = row["n"]
    months = sorted(set(active) | set(signups))
    rows = []
    for month in months:
        row = active.get(month, {"drivers": 0, "sessions": 0})
        per_driver = (
            (Decimal(row["sessions"]) / row["drivers"]).quantize(Decimal("0.1"))
            if row["drivers"]
            else 0
        )
        rows.append([month.isoformat()[:7], row["drivers"], signups.get(month, 0), per_driver])
    return Table(
        "drivers",
        _("Active drivers and sign-ups per month"),
        [_("Month"), _("Active drivers"), _("Sign-ups"), _("Sessions per active driver")],
        rows,
        series=[1, 2],
    )


def retention(scope: Scope) -> Table:
    """Of the drivers who charged first in a month (their cohort: sign-up month), the share
    active 0, 1, 2, ... months later."""
    cohorts: dict[date, dict[int, int]] = defaultdict(dict)
    sizes: dict[date, int] = {}
    for row in (
        DriverMonth.objects.filter(cohort__gte=scope.start.replace(day=1), cohort__lte=scope.end)
        .values("cohort", "month")
        .annotate(n=Count("user_id"))
    ):
        age = (
            (row["month"].year - row["cohort"].year) * 12 + row["month"].month - row["cohort"].month
        )
        cohorts[row["cohort"]][age] = row["n"]
    for row in (
        DriverMonth.objects.filter(cohort__in=list(cohorts))
        .values("cohort")
        .annotate(n=Count("user_id", distinct=True))
    ):
        sizes[row["cohort"]] = row["n"]
    longest = max((max(ages) for ages in cohorts.values()), default=0)
    rows = [
        [
            cohort.isoformat()[:7],
            sizes[cohort],
            *[_percent(cohorts[cohort].get(age, 0), sizes[cohort]) for age in range(longest + 1)],
        ]
        for cohort in sorted(cohorts)
    ]
    return Table(
        "retention",
        _("Retention by monthly cohort: share of its charging drivers active (%)"),
        [_("Cohort"), _("Drivers"), *[_("Month %(n)s") % {"n": age} for age in range(longest + 1)]],
        rows,
        chart="",
    )


def driver_shares(scope: Scope) -> Table:
    """Active drivers by payment method and subscription."""
    counts = (
        DriverMonth.objects.filter(_months(scope))
        .values("method", "on_plan")
        .annotate(n=Count("user_id", distinct=True))
        .order_by("method", "on_plan")
    )
    total = sum(row["n"] for row in counts)
    rows = [
        [
            str(SessionCharge.Method(row["method"]).label)
            if row["method"] in SessionCharge.Method.values
            else row["method"],
            _("on a plan") if row["on_plan"] else _("no plan"),
            row["n"],
            _percent(row["n"], total),
        ]
        for row in counts
    ]
    return Table(
        "driver_shares",
        _("Drivers by payment method and subscription"),
        [_("Paid by"), _("Subscription"), _("Drivers"), _("Share (%)")],
        rows,
        series=[2],
    )
