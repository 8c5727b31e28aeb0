"""When a charging port is down, over time: the one rule that uptime measures
(operations/uptime.py: how long, 23 CFR 680.116(b)) and a charger's timeline draws
(operations/timeline.py: what staff see on its page).

A port (a connector numbered 1 or more) is *down* while any of these holds:

- its own last StatusNotification was Faulted, Unavailable or Unknown (`DOWN_STATUSES`);
- the charger's connector 0 was: connector 0 is the charger as a whole, its status applies
  to every port;
- the charger was offline: from a `disconnected` ConnectionEvent to the next `connected`.
  The last event before a stretch of time gives the state at its start; with none, a first
  `connected` within it means offline until then (the one before is simply older than
  what was read); with no event at all the charger counts as online (its history began
  after it connected).

Of two statuses at the same moment the one received later counts: statuses are read in
`STATUS_ORDER`, connection events in (at, id) order.

`down_periods` turns one such history into its outages (pure); `connection_histories`
reads the online history of any number of chargers in two queries.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery

from stations.models import ChargePoint, ConnectionEvent, Connector

# Statuses in which a port cannot charge (indexed on StatusEvent for uptime's reads).
DOWN_STATUSES = Connector.DOWN_STATUSES
OFFLINE = "Offline"
# The end of an outage that has not ended.
FOREVER = datetime.max.replace(tzinfo=UTC)
# The order in which a connector's statuses happened: of two at the same moment, the later
# received is the newer.
STATUS_ORDER = ("timestamp", "id")

# A state change: (when, cause of the outage from then on, or None when up from then on).
Change = tuple[datetime, str | None]
# A charger's online history over a stretch: (online at its start, or None when nothing
# is known before it; [(at, connected?)] within it, in order).
ConnectionHistory = tuple[bool | None, list[tuple[datetime, bool]]]


@dataclass(frozen=True)
class Outage:
    """A time a port was down and why; `excluded` is the part of it uptime leaves out
    (operations/uptime.py)."""

    start: datetime
    end: datetime
    cause: str
    excluded: timedelta = timedelta()

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def cause(status: str | None, error_code: str | None = None) -> str | None:
    """What a status says about the port: None when it is up, else the outage's cause
    (a Faulted one with its error code, when one is given)."""
    if status not in DOWN_STATUSES:
        return None
    if status == Connector.Status.FAULTED and error_code and error_code != "NoError":
        return f"{status}: {error_code}"
    return status


def status_changes(
    status_before: str | None, statuses: Iterable[tuple[datetime, str]], start: datetime
) -> list[Change]:
    """A connector's statuses (in order) as changes of its outage, each cause the status
    itself; `status_before` (None: nothing known, up) gives the state at `start`."""
    return [(start, cause(status_before))] + [(at, cause(status)) for at, status in statuses]


def online_changes(
    events: Sequence[tuple[datetime, bool]],
    online_before: bool | None = None,
    start: datetime | None = None,
) -> list[Change]:
    """A charger's ConnectionEvents (at, connected?), in order, as changes of the offline
    outage. `online_before` is the state at `start` (the last event before it); None when
    no event is known before, and then a first `connected` means offline until then."""
    changes: list[Change] = []
    if online_before is not None and start is not None:
        changes.append((start, None if online_before else OFFLINE))
    elif events and events[0][1]:
        changes.append((datetime.min.replace(tzinfo=UTC), OFFLINE))
    changes.extend((at, None if connected else OFFLINE) for at, connected in events)
    return changes


def down_periods(changes: Sequence[Change], start: datetime, end: datetime) -> list[Outage]:
    """The outages within [start, end) of one timeline of changes (sorted by time).

    A change before `start` gives the state at `start`; with none, the timeline is up
    until its first change. An outage keeps the cause it began with.
    """
    periods: list[Outage] = []
    current: str | None = None
    since = start
    for at, new_cause in changes:
        if at >= end:
            break
        at = max(at, start)
        if (current is None) != (new_cause is None):
            if current is not None and at > since:
                periods.append(Outage(since, at, current))
            since = at
        if current is None or new_cause is None:
            current = new_cause
    if current is not None and end > since:
        periods.append(Outage(since, end, current))
    return periods


def connection_histories(
    charge_points: QuerySet[ChargePoint], start: datetime, end: datetime
) -> dict[int, ConnectionHistory]:
    """Each charger's online history over [start, end), by primary key, in two queries
    whatever their number: its last ConnectionEvent before `start`, then those within.
    Chargers with neither are left out (online: nothing ever said otherwise)."""
    last_before = ConnectionEvent.objects.filter(
        charge_point=OuterRef("pk"), at__lt=start
    ).order_by("-at", "-id")
    histories: dict[int, ConnectionHistory] = {
        pk: (kind == ConnectionEvent.Kind.CONNECTED, [])
        for pk, kind in charge_points.annotate(
            kind_at_start=Subquery(last_before.values("kind")[:1])
        ).values_list("pk", "kind_at_start")
        if kind is not None
    }
    for pk, at, kind in (
        ConnectionEvent.objects.filter(
            charge_point__in=charge_points.values("pk"), at__gte=start, at__lt=end
        )
        .order_by("charge_point_id", "at", "id")
        .values_list("charge_point_id", "at", "kind")
    ):
        histories.setdefault(pk, (None, []))[1].append((at, kind == ConnectionEvent.Kind.CONNECTED))
    return histories
