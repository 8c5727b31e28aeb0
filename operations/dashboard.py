"""The network at a glance: what every charger and connector is doing now, per site and in
total, and what needs attention first.

Read in a fixed number of queries whatever the size of the network (charge points,
connectors, open tickets): the admin home and the dashboard page load it on every visit,
and the live page reloads it when a charger reports a change (operations/live.py).
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from operations.models import Ticket
from operations.tickets import FAST_CHARGER_KW
from stations.models import ChargePoint, Connector, Site

# What a connector is doing, as the dashboard counts it. Offline wins over the last
# status the charger sent: nobody can charge at a charger that cannot be reached.
OFFLINE = "offline"
FAULTED = "faulted"
CHARGING = "charging"
AVAILABLE = "available"
UNAVAILABLE = "unavailable"

STATES = (OFFLINE, FAULTED, CHARGING, AVAILABLE, UNAVAILABLE)
STATE_LABELS = {
    OFFLINE: _("Offline"),
    FAULTED: _("Faulted"),
    CHARGING: _("In use"),
    AVAILABLE: _("Available"),
    UNAVAILABLE: _("Unavailable"),
}
# The dashboard's columns, in the order of STATES.
COLUMNS = [STATE_LABELS[state] for state in STATES]

# OCPP 1.6 §7.7 ChargePointStatus: a car is plugged in or being served.
IN_USE = {
    Connector.Status.PREPARING,
    Connector.Status.CHARGING,
    Connector.Status.SUSPENDED_EV,
    Connector.Status.SUSPENDED_EVSE,
    Connector.Status.FINISHING,
}
# Down: nobody can charge there, and nobody chose that (Unavailable is staff's or the
# charger's own choice, e.g. maintenance).
DOWN = {OFFLINE, FAULTED}


def connector_state(status: str, charger_online: bool, charger_faulted: bool = False) -> str:
    """The dashboard's state of one connector.

    `charger_faulted`: connector 0, the charger as a whole, reports Faulted (OCPP 1.6
    §4.9): every connector of it is then out of order.
    """
    if not charger_online:
        return OFFLINE
    if charger_faulted or status == Connector.Status.FAULTED:
        return FAULTED
    if status in IN_USE:
        return CHARGING
    if status == Connector.Status.AVAILABLE:
        return AVAILABLE
    return UNAVAILABLE


@dataclass
class Counts:
    """Chargers online and offline, and connectors by state."""

    chargers_online: int = 0
    chargers_offline: int = 0
    connectors: Counter[str] = field(default_factory=Counter)

    @property
    def chargers(self) -> int:
        return self.chargers_online + self.chargers_offline

    @property
    def connector_total(self) -> int:
        return sum(self.connectors.values())

    @property
    def by_state(self) -> list[tuple[str, int]]:
        """(state, count) in the order of STATES, for templates."""
        return [(state, self.connectors[state]) for state in STATES]

    def add(self, other: "Counts") -> None:
        self.chargers_online += other.chargers_online
        self.chargers_offline += other.chargers_offline
        self.connectors.update(other.connectors)

    @property
    def all_down(self) -> bool:
        """Every connector is offline or faulted (and there is at least one)."""
        total = self.connector_total
        return total > 0 and sum(self.connectors[state] for state in DOWN) == total


@dataclass
class SiteRow:
    site_id: int | None
    name: str
    counts: Counts = field(default_factory=Counts)


@dataclass(frozen=True)
class Attention:
    """A charger with something down: offline, or a connector (or itself) faulted."""

    charge_point_pk: int
    charge_point_id: str
    site_name: str
    problem: str  # OFFLINE or FAULTED
    connectors_down: tuple[int, ...]
    fast: bool
    down_since: datetime | None
    site_all_down: bool
    open_tickets: int = 0

    @property
    def problem_label(self) -> str:
        return str(STATE_LABELS[self.problem])


# Unknown since when: counted as down the longest, so it is not buried under new faults.
_LONG_AGO = datetime.min.replace(tzinfo=UTC)


def by_impact(rows: list[Attention]) -> list[Attention]:
    """Most harmful first: sites with every connector down, then fast chargers before slow
    ones, then the longest down first."""
    return sorted(
        rows,
        key=lambda row: (
            not row.site_all_down,
            not row.fast,
            row.down_since or _LONG_AGO,
            row.charge_point_id,
        ),
    )


@dataclass
class Network:
    total: Counts
    sites: list[SiteRow]
    attention: list[Attention]
    at: datetime


def _down_since(
    charge_point: ChargePoint, problem: str, faulted_at: list[datetime]
) -> datetime | None:
    if problem == OFFLINE:
        if not charge_point.is_connected:
            return charge_point.disconnected_at or charge_point.last_seen_at
        return charge_point.last_seen_at  # connected, but silent since
    return min(faulted_at) if faulted_at else None


def network(now: datetime | None = None) -> Network:
    """The whole network now: four queries (chargers, their connectors, site names, open
    tickets), whatever its size."""
    now = now or timezone.now()
    accepted = ChargePoint.Registration.ACCEPTED
    charge_points = list(
        ChargePoint.objects.filter(registration_status=accepted).only(
            "charge_point_id",
            "site_id",
            "is_connected",
            "last_seen_at",
            "heartbeat_interval",
            "disconnected_at",
        )
    )
    # (connector id, status, status since, max kW) per charge point
    connectors_of: dict[int, list[tuple[int, str, datetime | None, Decimal]]] = defaultdict(list)
    for charge_point_pk, *connector in Connector.objects.filter(
        charge_point__registration_status=accepted
    ).values_list("charge_point_id", "connector_id", "status", "status_at", "max_power_kw"):
        connectors_of[charge_point_pk].append(tuple(connector))
    site_names = dict(Site.objects.values_list("pk", "name"))
    open_tickets = {
        row["charge_point_id"]: row["count"]
        for row in Ticket.objects.filter(
            status__in=Ticket.OPEN_STATUSES, charge_point__isnull=False
        )
        .values("charge_point_id")
        .annotate(count=Count("id"))
        .order_by()
    }

    sites: dict[int | None, SiteRow] = {}
    # (charge point, problem, connector ids down, fast, when each fault began)
    problems: list[tuple[ChargePoint, str, tuple[int, ...], bool, list[datetime]]] = []
    for charge_point in charge_points:
        row = sites.get(charge_point.site_id)
        if row is None:
            name = site_names.get(charge_point.site_id) or str(_("No site"))
            row = sites[charge_point.site_id] = SiteRow(charge_point.site_id, name)
        online = charge_point.is_online(now)
        connectors = connectors_of[charge_point.pk]
        # Connector 0 is the charger as a whole (OCPP 1.6 §4.9).
        whole_faulted_at = next(
            (
                at or _LONG_AGO
                for number, status, at, _kw in connectors
                if number == 0 and status == Connector.Status.FAULTED
            ),
            None,
        )
        counts = Counts()
        if online:
            counts.chargers_online = 1
        else:
            counts.chargers_offline = 1
        down: list[int] = []
        faulted_at: list[datetime] = []
        fastest = Decimal(0)
        for number, status, status_at, kw in connectors:
            if number == 0:
                continue
            state = connector_state(status, online, whole_faulted_at is not None)
            counts.connectors[state] += 1
            fastest = max(fastest, kw)
            if state in DOWN:
                down.append(number)
            if state == FAULTED:
                faulted_at.append(whole_faulted_at or status_at or _LONG_AGO)
        row.counts.add(counts)
        if not online or down:
            problem = OFFLINE if not online else FAULTED
            problems.append(
                (charge_point, problem, tuple(down), fastest >= FAST_CHARGER_KW, faulted_at)
            )

    total = Counts()
    for row in sites.values():
        total.add(row.counts)
    attention = [
        Attention(
            charge_point_pk=charge_point.pk,
            charge_point_id=charge_point.charge_point_id,
            site_name=sites[charge_point.site_id].name,
            problem=problem,
            connectors_down=down,
            fast=fast,
            down_since=_down_since(charge_point, problem, faulted_at),
            site_all_down=charge_point.site_id is not None
            and sites[charge_point.site_id].counts.all_down,
            open_tickets=open_tickets.get(charge_point.pk, 0),
        )
        for charge_point, problem, down, fast, faulted_at in problems
    ]
    ordered_sites = sorted(sites.values(), key=lambda row: (row.site_id is None, row.name))
    return Network(total=total, sites=ordered_sites, attention=by_impact(attention), at=now)
