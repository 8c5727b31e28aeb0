"""A charger's recent history as periods of one state per connector, for its admin page:
the status it reported (StatusEvent) and, over it, the times it was down for the whole
charger: connector 0 down, and offline over everything (ConnectionEvent), by the rule
uptime measures (operations/downtime.py). What staff look at to see how a fault came and
went.

`periods()` is pure; `charger_timeline()` reads a charger's events for the window in a
fixed number of queries.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from operations import downtime
from stations.models import ChargePoint, Connector, StatusEvent

TIMELINE_DAYS = 7
OFFLINE = downtime.OFFLINE
# Before the first thing we know about a connector in the window.
UNKNOWN = Connector.Status.UNKNOWN.value

# One colour per kind of state (the bar's fill; the legend says which is which).
COLOURS = {
    "Available": "#3a9a4a",
    "Preparing": "#3b78c2",
    "Charging": "#3b78c2",
    "SuspendedEVSE": "#3b78c2",
    "SuspendedEV": "#3b78c2",
    "Finishing": "#3b78c2",
    "Reserved": "#d9a400",
    "Unavailable": "#d9a400",
    "Faulted": "#c9302c",
    OFFLINE: "#888888",
    UNKNOWN: "#dddddd",
}

LEGEND = [
    (_("Available"), COLOURS["Available"]),
    (_("In use"), COLOURS["Charging"]),
    (_("Unavailable or reserved"), COLOURS["Unavailable"]),
    (_("Faulted"), COLOURS["Faulted"]),
    (_("Offline"), COLOURS[OFFLINE]),
    (_("Unknown"), COLOURS[UNKNOWN]),
]


def state_label(state: str) -> str:
    if state == OFFLINE:
        return str(_("Offline"))
    if state in Connector.Status.values:
        return str(Connector.Status(state).label)
    return state


@dataclass(frozen=True)
class Period:
    state: str  # a Connector.Status value, OFFLINE, or UNKNOWN
    start: datetime
    end: datetime

    @property
    def colour(self) -> str:
        return COLOURS.get(self.state, COLOURS[UNKNOWN])

    @property
    def label(self) -> str:
        return state_label(self.state)


def periods(
    start: datetime,
    end: datetime,
    status_before: str | None,
    statuses: Sequence[tuple[datetime, str]],
    online_before: bool | None,
    connections: Sequence[tuple[datetime, bool]],
    charger_before: str | None = None,
    charger_statuses: Sequence[tuple[datetime, str]] = (),
) -> list[Period]:
    """The connector's states from `start` to `end`, adjacent equal states merged.

    `statuses`: (time, status) reported in the window, in order; `connections`: (time,
    online) of the charger in the window; `charger_statuses`: connector 0's; the `_before`
    values are the last ones before `start` (None: nothing known). Where connector 0 was
    down its status covers the connector's own, and offline covers both: the last status
    a charger sent before it went away says nothing about the time it was away. Which
    times those are is operations/downtime.py's rule.
    """
    window = [(at, status) for at, status in statuses if start <= at < end]
    result: list[Period] = []
    current, since = status_before or UNKNOWN, start
    for at, status in window:
        if status != current:
            if at > since:
                result.append(Period(current, since, at))
                since = at
            current = status
    result.append(Period(current, since, end))
    in_window = [(at, status) for at, status in charger_statuses if start <= at < end]
    charger_changes = downtime.status_changes(charger_before, in_window, start)
    for outage in downtime.down_periods(charger_changes, start, end):
        result = _covered(result, outage.start, outage.end, outage.cause)
    online = [(at, connected) for at, connected in connections if start <= at < end]
    offline_changes = downtime.online_changes(online, online_before, start)
    for outage in downtime.down_periods(offline_changes, start, end):
        result = _covered(result, outage.start, outage.end, OFFLINE)
    # A change at the very start replaced the state before it; merge what became equal.
    merged: list[Period] = []
    for period in result:
        if merged and merged[-1].state == period.state:
            merged[-1] = Period(period.state, merged[-1].start, period.end)
        else:
            merged.append(period)
    return merged


def _covered(periods: list[Period], start: datetime, end: datetime, state: str) -> list[Period]:
    """The periods with [start, end) in `state` instead of what they said."""
    result: list[Period] = []
    for period in periods:
        if period.end <= start or period.start >= end:
            result.append(period)
            continue
        if period.start < start:
            result.append(Period(period.state, period.start, start))
        result.append(Period(state, max(period.start, start), min(period.end, end)))
        if period.end > end:
            result.append(Period(period.state, end, period.end))
    return result


@dataclass(frozen=True)
class ConnectorTimeline:
    connector_id: int
    periods: list[Period]


def charger_timeline(
    charge_point: ChargePoint, now: datetime | None = None, days: int = TIMELINE_DAYS
) -> tuple[datetime, datetime, list[ConnectorTimeline]]:
    """(start, end, one timeline per connector but 0) of the last `days` days; 4 queries."""
    end = now or timezone.now()
    start = end - timedelta(days=days)
    last_status = StatusEvent.objects.filter(
        connector=OuterRef("pk"), timestamp__lt=start
    ).order_by("-timestamp", "-id")
    connectors = list(
        charge_point.connectors.annotate(
            status_before=Subquery(last_status.values("status")[:1])
        ).order_by("connector_id")
    )
    statuses: dict[int, list[tuple[datetime, str]]] = {c.pk: [] for c in connectors}
    for connector_pk, at, status in (
        StatusEvent.objects.filter(
            connector__in=connectors, timestamp__gte=start, timestamp__lt=end
        )
        .order_by(*downtime.STATUS_ORDER)
        .values_list("connector_id", "timestamp", "status")
    ):
        statuses[connector_pk].append((at, status))
    charger = next((c for c in connectors if c.connector_id == 0), None)
    online_before, connections = downtime.connection_histories(
        ChargePoint.objects.filter(pk=charge_point.pk), start, end
    ).get(charge_point.pk, (None, []))
    return (
        start,
        end,
        [
            ConnectorTimeline(
                connector.connector_id,
                periods(
                    start,
                    end,
                    connector.status_before,
                    statuses[connector.pk],
                    online_before,
                    connections,
                    charger.status_before if charger else None,
                    statuses[charger.pk] if charger else (),
                ),
            )
            for connector in connectors
            if connector.connector_id > 0
        ],
    )
