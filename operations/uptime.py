"""Uptime of charging ports as 23 CFR 680.116(b) defines it, per month.

A port (a connector numbered 1 or more) is up when its hardware and software are online
and it is available or in use. When it is *down* (an outage: its own status, connector 0's,
the charger offline) is operations/downtime.py's rule, which the charger's timeline
draws too.

Unavailable counts even when ChargeHub itself made the port Inoperative: for a planned
maintenance window that time is excluded below; an emergency stop is an outage unless
staff mark it excluded with a cause. Overlapping causes are counted once per port.

Excluded minutes are the part of the outage minutes that overlaps a MaintenanceWindow
(of the site or the charger) or an OutageExclusion (of the site, charger or connector):
never more than the outage itself.

    uptime % = (minutes in period - (outage minutes - excluded minutes)) / minutes in period x 100

The period is a calendar month in the site's time zone (Site.time_zone; a charger without
a site, or a zone Python does not know, uses settings.TIME_ZONE): from local midnight of
the 1st to local midnight of the next 1st, so a month with a change to summer time has one
hour less (March in Europe/Stockholm: 743 h) and one with a change back one more (October:
745 h). A port is measured from its first StatusNotification (before it, nothing is known:
a port commissioned in the middle of a month is measured from then) and, in the current
month, up to now. A port with no status before the period's end has no figure.

`uptime_percent` is rounded down to 2 decimals, so a port never shows a threshold (97 %)
it misses by a fraction; minutes are rounded half up to 2 decimals. A charger's or a
site's uptime weighs its ports by their measured minutes.

The arithmetic is pure (intervals of datetimes, `port_uptime`); `load_histories` reads
what it needs for any number of chargers and a period in a fixed number of queries: only
the statuses that took a port down leave the database, each with when it was next up.
"""

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from operations.downtime import (
    DOWN_STATUSES,
    FOREVER,
    OFFLINE,
    STATUS_ORDER,
    Change,
    Outage,
    cause,
    connection_histories,
    down_periods,
    online_changes,
)
from operations.models import MaintenanceWindow, OutageExclusion
from stations.models import ChargePoint, Connector, StatusEvent

Interval = tuple[datetime, datetime]

HUNDRED = Decimal(100)
CENT = Decimal("0.01")
MICROSECONDS_PER_MINUTE = Decimal(60_000_000)


# --- Intervals (pure) ----------------------------------------------------------------------


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping intervals covering the same time; empty ones dropped."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def intersection(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The time in both; a and b sorted and non-overlapping (as `union` gives them)."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if end > start:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def total(intervals: Iterable[Interval]) -> timedelta:
    return sum((end - start for start, end in intervals), timedelta())


def clipped(outages: Iterable[Outage], start: datetime, end: datetime) -> list[Outage]:
    """The parts of these outages within [start, end)."""
    return [
        Outage(max(o.start, start), min(o.end, end), o.cause)
        for o in outages
        if o.start < end and o.end > start
    ]


# --- One port ------------------------------------------------------------------------------


@dataclass
class PortHistory:
    """What uptime needs to know about one port over a stretch of time."""

    connector: Connector
    first_seen: datetime | None
    # Outages by status (an end of FOREVER: still down), of the port and of connector 0;
    # they may overlap and reach outside the period.
    own: list[Outage] = field(default_factory=list)
    charger: list[Outage] = field(default_factory=list)
    online: list[Change] = field(default_factory=list)
    excluded: list[Interval] = field(default_factory=list)


@dataclass
class PortUptime:
    """One port's figures for one period."""

    connector: Connector
    start: datetime  # measured from (the period's start, or the port's first status)
    end: datetime  # measured to (the period's end, or now)
    outages: list[Outage]

    @property
    def period(self) -> timedelta:
        return self.end - self.start

    @property
    def outage(self) -> timedelta:
        return total((o.start, o.end) for o in self.outages)

    @property
    def excluded(self) -> timedelta:
        return sum((o.excluded for o in self.outages), timedelta())

    @property
    def minutes(self) -> Decimal:
        return minutes(self.period)

    @property
    def outage_minutes(self) -> Decimal:
        return minutes(self.outage)

    @property
    def excluded_minutes(self) -> Decimal:
        return minutes(self.excluded)

    @property
    def uptime_percent(self) -> Decimal:
        return percent(self.period, self.outage - self.excluded)


def minutes(duration: timedelta) -> Decimal:
    """A duration in minutes, rounded half up to 2 decimals."""
    return (Decimal(duration // timedelta(microseconds=1)) / MICROSECONDS_PER_MINUTE).quantize(
        CENT, ROUND_HALF_UP
    )


def percent(period: timedelta, counted_outage: timedelta) -> Decimal:
    """(period - counted outage) / period x 100, rounded down to 2 decimals."""
    if period <= timedelta():
        return HUNDRED.quantize(CENT)
    up = Decimal((period - counted_outage) // timedelta(microseconds=1))
    whole = Decimal(period // timedelta(microseconds=1))
    return (up * HUNDRED / whole).quantize(CENT, ROUND_DOWN)


def port_uptime(history: PortHistory, start: datetime, end: datetime) -> PortUptime | None:
    """One port's outages within [start, end), each with its excluded part; None when the
    port had no status yet before `end`."""
    if history.first_seen is None or history.first_seen >= end:
        return None
    return measure(history, merged_outages(history, start, end), start, end)


def merged_outages(history: PortHistory, start: datetime, end: datetime) -> list[Outage]:
    """The port's outages within [start, end), its own, connector 0's and offline ones
    merged where they overlap: sorted and disjoint. A merged outage's cause is that of the
    piece that began it (at the same moment: the port's own status, then connector 0's,
    then offline)."""
    pieces = [
        *clipped(history.own, start, end),
        *clipped(history.charger, start, end),
        *down_periods(history.online, start, end),
    ]
    first_cause: dict[datetime, str] = {}
    for piece in pieces:
        first_cause.setdefault(piece.start, piece.cause)
    return [Outage(s, e, first_cause[s]) for s, e in union((p.start, p.end) for p in pieces)]


def measure(
    history: PortHistory, merged: Sequence[Outage], start: datetime, end: datetime
) -> PortUptime:
    """The port's figures for [start, end) (from its first status on) out of its merged
    outages over a longer stretch: the ones that overlap, cut at the bounds, each with the
    part of it that is excluded."""
    if history.first_seen is not None:
        start = max(start, history.first_seen)
    excluded = union(history.excluded)
    # Disjoint and sorted: their ends are sorted too.
    first = bisect.bisect_right([o.end for o in merged], start)
    outages = []
    for outage in merged[first:]:
        if outage.start >= end:
            break
        span = (max(outage.start, start), min(outage.end, end))
        outages.append(
            Outage(span[0], span[1], outage.cause, total(intersection([span], excluded)))
        )
    return PortUptime(history.connector, start, end, outages)


@dataclass
class Totals:
    """Ports' figures added up: a charger, a site, the network (ports weighed by their
    measured minutes)."""

    ports: list[PortUptime]

    @property
    def period(self) -> timedelta:
        return sum((p.period for p in self.ports), timedelta())

    @property
    def outage_minutes(self) -> Decimal:
        return minutes(sum((p.outage for p in self.ports), timedelta()))

    @property
    def excluded_minutes(self) -> Decimal:
        return minutes(sum((p.excluded for p in self.ports), timedelta()))

    @property
    def uptime_percent(self) -> Decimal | None:
        if not self.ports:
            return None
        counted = sum((p.outage - p.excluded for p in self.ports), timedelta())
        return percent(self.period, counted)


# --- Months --------------------------------------------------------------------------------


def zone_of(charge_point: ChargePoint) -> ZoneInfo:
    """The time zone a charger's months are counted in: its site's, else TIME_ZONE."""
    return zone_named(charge_point.site.time_zone if charge_point.site_id else None)


def zone_named(name: str | None) -> ZoneInfo:
    """A site's time zone; TIME_ZONE when it has none Python knows."""
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def month_bounds(month: date, zone: ZoneInfo) -> Interval:
    """Local midnight of the month's 1st to local midnight of the next 1st, in UTC."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    start = datetime(first.year, first.month, 1, tzinfo=zone)
    end = datetime(following.year, following.month, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_months(month: date, count: int = 12) -> list[date]:
    """`count` months ending with `month`, oldest first (1st of each)."""
    months = [month.replace(day=1)]
    while len(months) < count:
        months.insert(0, (months[0] - timedelta(days=1)).replace(day=1))
    return months


def months_between(start: datetime, end: datetime, now: datetime | None = None) -> list[date]:
    """The months [start, end) touches in any time zone (a day's margin each side), up to
    this month: those whose uptime a change over that time can move."""
    last = min(end + timedelta(days=1), (now or timezone.now()) + timedelta(days=1)).date()
    month = (start - timedelta(days=1)).date().replace(day=1)
    months = []
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def parse_month(text: str) -> date | None:
    """'YYYY-MM' as the 1st of that month; None when it is not one."""
    try:
        parsed = datetime.strptime(text, "%Y-%m")
    except (TypeError, ValueError):
        return None
    if not 2000 <= parsed.year <= 9998 or len(text) != 7:
        return None
    return parsed.date()


# --- Reading the history -------------------------------------------------------------------


def load_histories(
    charge_points: QuerySet[ChargePoint] | Iterable[ChargePoint],
    start: datetime,
    end: datetime,
) -> list[PortHistory]:
    """Every port of these chargers, with its history over [start, end).

    A fixed number of queries whatever the number of chargers: the ports with their first
    status, their status at `start` and when it next was up; the down statuses within,
    each with the time of the next status that was up (an index lookup per outage, so
    the many statuses of a port that works are never read); the online history;
    maintenance windows and exclusions.
    """
    if isinstance(charge_points, QuerySet):
        cps = charge_points
    else:
        cps = ChargePoint.objects.filter(pk__in=[cp.pk for cp in charge_points])
    ports = Connector.objects.filter(charge_point__in=cps.values("pk"))
    before_start = StatusEvent.objects.filter(
        connector=OuterRef("pk"), timestamp__lt=start
    ).order_by("-timestamp", "-id")
    up_from_start = (
        StatusEvent.objects.filter(connector=OuterRef("pk"), timestamp__gte=start)
        .exclude(status__in=DOWN_STATUSES)
        .order_by(*STATUS_ORDER)
    )
    connectors = list(
        ports.select_related("charge_point__site")
        .annotate(
            first_seen=Subquery(
                StatusEvent.objects.filter(connector=OuterRef("pk"))
                .order_by(*STATUS_ORDER)
                .values("timestamp")[:1]
            ),
            status_at_start=Subquery(before_start.values("status")[:1]),
            error_at_start=Subquery(before_start.values("error_code")[:1]),
            up_after_start=Subquery(up_from_start.values("timestamp")[:1]),
        )
        .order_by("charge_point_id", "connector_id")
    )
    pieces: dict[int, list[Outage]] = {c.pk: [] for c in connectors}
    for c in connectors:
        at_start = cause(c.status_at_start, c.error_at_start)
        if at_start is not None:
            pieces[c.pk].append(Outage(start, c.up_after_start or FOREVER, at_start))
    for connector_pk, at, status, error_code, up_at in _down_statuses(ports, start, end):
        down_cause = cause(status, error_code) or status
        pieces[connector_pk].append(Outage(at, up_at or FOREVER, down_cause))

    online = {
        pk: online_changes(events, online_before, start)
        for pk, (online_before, events) in connection_histories(cps, start, end).items()
    }
    excluded = _excluded(connectors, start, end)

    histories = []
    charger_zero = {c.charge_point_id: pieces[c.pk] for c in connectors if c.connector_id == 0}
    for c in connectors:
        if c.connector_id == 0:
            continue
        histories.append(
            PortHistory(
                connector=c,
                first_seen=c.first_seen,
                own=pieces[c.pk],
                charger=charger_zero.get(c.charge_point_id, []),
                online=online.get(c.charge_point_id, []),
                excluded=excluded.get(c.pk, []),
            )
        )
    return histories


def _down_statuses(
    ports: QuerySet[Connector], start: datetime, end: datetime
) -> Iterable[tuple[int, datetime, str, str, datetime | None]]:
    """Each down status within [start, end) with the time of the port's next up status
    (None: still down). The next one in time, and of two at the same time the later
    received: (timestamp, id) order."""
    next_up = (
        StatusEvent.objects.filter(
            connector=OuterRef("connector"), timestamp__gte=OuterRef("timestamp")
        )
        .exclude(status__in=DOWN_STATUSES)
        .exclude(timestamp=OuterRef("timestamp"), id__lt=OuterRef("id"))
        .order_by(*STATUS_ORDER)
        .values("timestamp")[:1]
    )
    return (
        StatusEvent.objects.filter(
            connector__in=ports,
            status__in=DOWN_STATUSES,
            timestamp__gte=start,
            timestamp__lt=end,
        )
        .annotate(up_at=Subquery(next_up))
        .values_list("connector_id", "timestamp", "status", "error_code", "up_at")
        .iterator(chunk_size=10_000)
    )


def _excluded(
    connectors: list[Connector], start: datetime, end: datetime
) -> dict[int, list[Interval]]:
    """Each port's excluded time: maintenance windows of its site or charger, exclusions
    of its site, charger or itself, overlapping [start, end)."""
    site_ids = {c.charge_point.site_id for c in connectors if c.charge_point.site_id}
    cp_ids = {c.charge_point_id for c in connectors}
    connector_ids = {c.pk for c in connectors}
    by_site: dict[int, list[Interval]] = {}
    by_cp: dict[int, list[Interval]] = {}
    by_connector: dict[int, list[Interval]] = {}
    overlapping = Q(starts_at__lt=end, ends_at__gt=start)
    for site_id, cp_id, s, e in MaintenanceWindow.objects.filter(
        overlapping, Q(site_id__in=site_ids) | Q(charge_point_id__in=cp_ids)
    ).values_list("site_id", "charge_point_id", "starts_at", "ends_at"):
        (by_site.setdefault(site_id, []) if site_id else by_cp.setdefault(cp_id, [])).append((s, e))
    for site_id, cp_id, connector_id, s, e in OutageExclusion.objects.filter(
        overlapping,
        Q(site_id__in=site_ids) | Q(charge_point_id__in=cp_ids) | Q(connector_id__in=connector_ids),
    ).values_list("site_id", "charge_point_id", "connector_id", "starts_at", "ends_at"):
        if connector_id:
            by_connector.setdefault(connector_id, []).append((s, e))
        elif cp_id:
            by_cp.setdefault(cp_id, []).append((s, e))
        else:
            by_site.setdefault(site_id, []).append((s, e))
    return {
        c.pk: [
            *by_site.get(c.charge_point.site_id, []),
            *by_cp.get(c.charge_point_id, []),
            *by_connector.get(c.pk, []),
        ]
        for c in connectors
    }


# --- Figures for pages, the API and the summary table -------------------------------------


def month_uptime(
    charge_points: QuerySet[ChargePoint] | Iterable[ChargePoint],
    month: date,
    now: datetime | None = None,
) -> list[PortUptime]:
    """Every measured port of these chargers in one month (each in its site's zone)."""
    return months_uptime(charge_points, [month], now)[month]


def months_uptime(
    charge_points: QuerySet[ChargePoint] | Iterable[ChargePoint],
    months: Sequence[date],
    now: datetime | None = None,
) -> dict[date, list[PortUptime]]:
    """Every measured port in each of these months: the history is read once for the
    whole stretch (a day's margin for time zones), then cut at each port's month bounds."""
    now = now or timezone.now()
    result: dict[date, list[PortUptime]] = {m: [] for m in months}
    if not months:
        return result
    first, last = min(months), max(months)
    read_from = month_bounds(first, ZoneInfo("UTC"))[0] - timedelta(days=1)
    read_to = min(month_bounds(last, ZoneInfo("UTC"))[1] + timedelta(days=1), now)
    if read_to <= read_from:
        return result
    zones: dict[int, ZoneInfo] = {}
    for history in load_histories(charge_points, read_from, read_to):
        if history.first_seen is None:
            continue
        cp = history.connector.charge_point
        zone = zones.setdefault(cp.pk, zone_of(cp))
        # Merged once over the whole stretch, then cut per month.
        merged = merged_outages(history, read_from, read_to)
        for month in months:
            start, end = month_bounds(month, zone)
            end = min(end, now)
            if end <= start or history.first_seen >= end:
                continue
            result[month].append(measure(history, merged, start, end))
    return result


def current_month(zone: ZoneInfo | None = None, now: datetime | None = None) -> date:
    """The 1st of this month in a time zone (TIME_ZONE by default)."""
    zone = zone or zone_named(None)
    return (now or timezone.now()).astimezone(zone).date().replace(day=1)


CAUSE_LABELS = {
    OFFLINE: _("Offline"),
    Connector.Status.FAULTED: _("Faulted"),
    Connector.Status.UNAVAILABLE: _("Unavailable"),
    Connector.Status.UNKNOWN: _("Unknown"),
}
