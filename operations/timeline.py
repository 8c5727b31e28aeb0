"""A charger's recent history as periods of one state per connector, for its admin page:
the status it reported (StatusEvent) and, over it, the times it was offline
(ConnectionEvent). What staff look at to see how a fault came and went.

`periods()` is pure; `charger_timeline()` reads a charger's events for the window in a
fixed number of queries.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from stations.models import ChargePoint, ConnectionEvent, Connector, StatusEvent

TIMELINE_DAYS = 7
OFFLINE = "Offline"
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
    statuses: list[tuple[datetime, str]],
    online_before: bool | None,
    connections: list[tuple[datetime, bool]],
) -> list[Period]:
    """The connector's states from `start` to `end`, adjacent equal states merged.

    `statuses`: (time, status) reported in the window; `connections`: (time, online) of
    the charger in the window; the `_before` values are the last ones before `start`
    (None: nothing known). Offline hides the status: the last one a charger sent before
    it went away says nothing about the time it was away. With no online history at all
    the charger counts as online (the history began after it connected).
    """
    changes: list[tuple[datetime, int, str | bool]] = [
        (at, 0, status) for at, status in statuses if start <= at < end
    ] + [(at, 1, online) for at, online in connections if start <= at < end]
    changes.sort(key=lambda change: (change[0], change[1]))
    status = status_before or UNKNOWN
    online = online_before is not False

    def state() -> str:
        return status if online else OFFLINE

    result: list[Period] = []
    current, since = state(), start
    for at, kind, value in changes:
        if kind == 0:
            status = str(value)
        else:
            online = bool(value)
        new = state()
        if new != current:
            if at > since:
                result.append(Period(current, since, at))
                since = at
            current = new
    result.append(Period(current, since, end))
    # A change at the very start replaced the state before it; merge what became equal.
    merged: list[Period] = []
    for period in result:
        if merged and merged[-1].state == period.state:
            merged[-1] = Period(period.state, merged[-1].start, period.end)
        else:
            merged.append(period)
    return merged


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
        charge_point.connectors.filter(connector_id__gt=0)
        .annotate(status_before=Subquery(last_status.values("status")[:1]))
        .order_by("connector_id")
    )
    statuses: dict[int, list[tuple[datetime, str]]] = {c.pk: [] for c in connectors}
    for connector_pk, at, status in StatusEvent.objects.filter(
        connector__in=connectors, timestamp__gte=start, timestamp__lt=end
    ).values_list("connector_id", "timestamp", "status"):
        statuses[connector_pk].append((at, status))
    events = ConnectionEvent.objects.filter(charge_point=charge_point)
    before = events.filter(at__lt=start).order_by("-at", "-id").values_list("kind", flat=True)
    kind_before = before.first()
    online_before = None if kind_before is None else kind_before == ConnectionEvent.Kind.CONNECTED
    connections = [
        (at, kind == ConnectionEvent.Kind.CONNECTED)
        for at, kind in events.filter(at__gte=start, at__lt=end)
        .order_by("at", "id")
        .values_list("at", "kind")
    ]
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
                ),
            )
            for connector in connectors
        ],
    )
