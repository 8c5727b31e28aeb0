"""Smart charging: how a site's current is shared among its connectors (pure, no I/O).

The model (stated once, used by the loader in stations/load_balancing.py):

- A site's limit is in amps per phase, the same on each of its 1 to 3 phases (the main
  fuse). Limits sent to chargers are in amps per phase too (SetChargingProfile with
  chargingRateUnit "A", OCPP 1.6 §3.13.1).
- A connector draws on a set of the site's phases: a three-phase charger on all three
  (counted there whatever the car, which errs on the safe side), a one-phase charger on
  the site phase its L1 is wired to (`ChargePoint.phases`, `ChargePoint.first_phase`).
- Every current is counted in tenths of an amp (an int), so that sums are exact:
  OCPP 1.6 limits are multiples of 0.1 (ChargingSchedulePeriod.limit).

The rules of `allocate()`:

1. What cannot be changed now is counted first (`fixed`): an offline charger's running
   connector at the limit it last accepted (it keeps its TxProfile until its transaction
   ends), a connector that refused its profile at its maximum, and every idle connector
   at the site's default (the TxDefaultProfile a session starts under before its own
   allocation arrives).
2. Every running connector gets the minimum (`SMART_CHARGING_MIN_AMPS`: below it a car
   stops charging) in order of priority, then arrival, while each of its phases has it
   left; the others wait at 0 A (`waiting`): the lowest priority, then the latest.
3. What is left goes to the higher priority first; within a priority, a fair share
   (progressive filling: everyone's share grows by the same amount until a connector
   reaches its own maximum or a phase runs out), capped by each connector's maximum.
4. A connector's maximum for this round is its own (`max_amps`), lowered by a cap the
   scheduler sets (`cap_amps`: cheap-hour charging), and by what its car draws: a car
   drawing clearly less than it was given (`drawn_amps` below `previous_amps` by more
   than `lend_margin`) keeps what it draws plus the margin, and the rest is lent to the
   others; once it draws close to its limit again it asks for its full maximum back.
   A maximum below the minimum is 0 A (a car cannot charge below it).

A booked connector (`reserved_from` reached) counts as running, so its share is held for
the booker. `departure_at` and `energy_wanted_wh` are carried for the scheduler, which
turns them into `cap_amps`; the allocation itself does not read them.

`transition()` orders the change from the limits in force to the new ones: every
lowering first (the caller waits for their answers), then every raise; the sum on each
phase stays under the larger of the old and the new sum throughout.
"""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache

PHASES = (1, 2, 3)
TENTH = Decimal("0.1")


@lru_cache(maxsize=4096)
def tenths(amps: Decimal | int | float) -> int:
    """Amps as whole tenths, rounded down: a limit never grows by rounding (cached: a
    site has a handful of distinct values, and Decimal arithmetic is the cost here)."""
    return int((Decimal(amps) * 10).to_integral_value(rounding=ROUND_FLOOR))


@lru_cache(maxsize=4096)
def amps(tenths_of_amps: int) -> Decimal:
    return Decimal(tenths_of_amps) / 10


@dataclass(frozen=True)
class SiteLimit:
    """What the site can give now, per phase."""

    amps: Decimal
    phases: int = 3
    min_amps: Decimal = Decimal(6)
    # What an idle connector is counted at: its TxDefaultProfile limit.
    default_amps: Decimal = Decimal(0)
    lend_margin: Decimal = Decimal(2)

    @property
    def site_phases(self) -> frozenset[int]:
        return frozenset(PHASES[: max(1, min(3, self.phases))])


@dataclass(frozen=True)
class ConnectorDemand:
    """One connector of the site as the allocation sees it."""

    key: Hashable
    phases: frozenset[int] = frozenset(PHASES)
    max_amps: Decimal = Decimal(32)
    priority: int = 0
    arrived_at: datetime | None = None
    running: bool = True
    online: bool = True
    # The charger refused (or never took) its profile: counted at its maximum.
    rejected: bool = False
    # The limit the charger holds now (last accepted), None if it has none of ours.
    previous_amps: Decimal | None = None
    # What the car draws (the highest phase of the last Current.Import), if measured.
    drawn_amps: Decimal | None = None
    # Hooks for the scheduler (cheap-hour charging, bookings).
    cap_amps: Decimal | None = None
    departure_at: datetime | None = None
    energy_wanted_wh: int | None = None
    reserved_from: datetime | None = None

    def is_running(self, now: datetime | None) -> bool:
        booked = self.reserved_from is not None and now is not None and self.reserved_from <= now
        return self.running or booked


@dataclass
class Allocation:
    """The outcome: `limits` to send (running, online connectors that take profiles),
    `fixed` loads counted as they are, and `load` per phase of both, in amps."""

    limits: dict[Hashable, Decimal] = field(default_factory=dict)
    fixed: dict[Hashable, Decimal] = field(default_factory=dict)
    # Running connectors the site cannot serve now: at 0 A, their drivers told.
    waiting: list[Hashable] = field(default_factory=list)
    load: dict[int, Decimal] = field(default_factory=dict)
    limit: dict[int, Decimal] = field(default_factory=dict)

    @property
    def over_limit(self) -> bool:
        """The fixed loads alone exceed the limit (nothing here can lower them)."""
        return any(self.load[p] > self.limit[p] for p in self.load)


FIRST_PHASE = frozenset([1])


def connector_phases(phases: frozenset[int], site: SiteLimit) -> frozenset[int]:
    """The site phases a connector is counted on (a phase the site lacks is its first)."""
    return _on_site(phases, site.site_phases)


def _on_site(phases: frozenset[int], site_phases: frozenset[int]) -> frozenset[int]:
    return phases & site_phases or FIRST_PHASE


def allocate(
    site: SiteLimit, connectors: Sequence[ConnectorDemand], now: datetime | None = None
) -> Allocation:
    """Share the site's limit among its connectors by the rules in the module docstring."""
    on_site = site.site_phases
    site_phases = sorted(on_site)
    remaining = dict.fromkeys(site_phases, tenths(site.amps))
    minimum = tenths(site.min_amps)
    margin = tenths(site.lend_margin)
    default = tenths(site.default_amps)
    result = Allocation(limit={p: amps(remaining[p]) for p in site_phases})

    phases_of: dict[Hashable, frozenset[int]] = {}
    managed: list[ConnectorDemand] = []
    for c in connectors:
        on = phases_of[c.key] = _on_site(c.phases, on_site)
        if not c.is_running(now):
            fixed = default
        elif c.rejected:
            fixed = tenths(c.max_amps)
        elif not c.online:
            fixed = default if c.previous_amps is None else tenths(c.previous_amps)
        else:
            managed.append(c)
            continue
        result.fixed[c.key] = amps(fixed)
        for p in on:
            remaining[p] -= fixed

    # 2. The minimum, by priority then arrival.
    managed.sort(key=_order)
    given: dict[Hashable, int] = {}
    headroom: dict[Hashable, int] = {}
    for c in managed:
        most = _maximum(c, minimum, margin)
        on = phases_of[c.key]
        if most == 0:
            given[c.key] = 0  # paused by its cap, not waiting for room
        elif all(remaining[p] >= minimum for p in on):
            given[c.key] = minimum
            headroom[c.key] = most - minimum
            for p in on:
                remaining[p] -= minimum
        else:
            given[c.key] = 0
            result.waiting.append(c.key)

    # 3. The rest: higher priority first, a fair share within one.
    closed = dict.fromkeys(site_phases, 0)
    levels: dict[int, list[Hashable]] = {}
    for c in managed:
        if headroom.get(c.key):
            levels.setdefault(c.priority, []).append(c.key)
    for priority in sorted(levels, reverse=True):
        # A phase a higher priority filled stays closed to the lower ones: the few
        # tenths it has left are not worth giving the lower priority more than the min.
        for p in _fill(levels[priority], headroom, phases_of, remaining, given):
            closed[p] += remaining[p]
            remaining[p] = 0

    result.limits = {key: amps(t) for key, t in given.items()}
    # What is counted on each phase: the limit less what is left (never below zero
    # there, even when fixed loads alone exceed it).
    limit = tenths(site.amps)
    result.load = {p: amps(limit - remaining[p] - closed[p]) for p in site_phases}
    return result


def _order(c: ConnectorDemand) -> tuple[int, float, str]:
    arrived = c.arrived_at.timestamp() if c.arrived_at else float("-inf")
    return (-c.priority, arrived, str(c.key))


def _maximum(c: ConnectorDemand, minimum: int, margin: int) -> int:
    """The most a connector may get this round, in tenths (rule 4)."""
    most = tenths(c.max_amps)
    if c.cap_amps is not None:
        most = min(most, tenths(c.cap_amps))
    if c.drawn_amps is not None and c.previous_amps is not None:
        drawn = tenths(c.drawn_amps)
        if drawn < tenths(c.previous_amps) - margin:
            most = min(most, max(minimum, drawn + margin))
    return most if most >= minimum else 0


def _fill(
    keys: list[Hashable],
    headroom: dict[Hashable, int],
    phases_of: Mapping[Hashable, frozenset[int]],
    remaining: dict[int, int],
    given: dict[Hashable, int],
) -> set[int]:
    """Progressive filling: raise everyone in `keys` by the same amount until each has
    its headroom or a phase it is on runs out; a round per phase that runs out. Returns
    the phases that ran out."""
    active = [k for k in keys if headroom[k] > 0]
    ran_out: set[int] = set()
    while active:
        on_phase: dict[int, list[int]] = {}
        for k in active:
            for p in phases_of[k]:
                on_phase.setdefault(p, []).append(headroom[k])
        levels = {p: _water_level(sorted(hs), remaining[p]) for p, hs in on_phase.items()}
        level = min((v for v in levels.values() if v is not None), default=None)
        for k in active:
            step = headroom[k] if level is None else min(headroom[k], level)
            given[k] += step
            headroom[k] -= step
            for p in phases_of[k]:
                remaining[p] -= step
        if level is None:
            return ran_out
        full = {p for p, v in levels.items() if v == level}
        ran_out |= full
        active = [k for k in active if headroom[k] > 0 and not (phases_of[k] & full)]
    return ran_out


def _water_level(headrooms: list[int], room: int) -> int | None:
    """The largest equal step L with sum(min(h, L)) <= room, or None if all fit."""
    used = 0
    count = len(headrooms)
    for i, h in enumerate(headrooms):
        level = (room - used) // (count - i)
        if level < h:
            return max(0, level)
        used += h
    return None


def transition(
    current: Mapping[Hashable, Decimal], wanted: Mapping[Hashable, Decimal]
) -> tuple[list[Hashable], list[Hashable]]:
    """(lower, raise): the connectors whose limit goes down, to send first and wait for,
    then those whose limit goes up. Unchanged limits are not sent again."""
    lower = [k for k, v in wanted.items() if k in current and v < current[k]]
    raised = [k for k, v in wanted.items() if k not in current or v > current[k]]
    return lower, raised


def phase_loads(
    limits: Mapping[Hashable, Decimal], phases_of: Mapping[Hashable, Iterable[int]]
) -> dict[int, Decimal]:
    """The sum of limits on each phase."""
    loads: dict[int, Decimal] = {}
    for key, value in limits.items():
        for p in phases_of[key]:
            loads[p] = loads.get(p, Decimal(0)) + value
    return loads
