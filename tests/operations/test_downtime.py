"""When a port is down over time (operations/downtime.py): the one rule that uptime
measures and a charger's timeline draws, so the two never disagree about the same history."""

from datetime import UTC, date, datetime, timedelta

import pytest

from operations import downtime, timeline, uptime
from operations.downtime import OFFLINE, Outage
from tests.operations.uptime_history import charger, commissioned, local, status, went

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_down_periods_keep_the_first_cause_and_are_clipped_to_the_period():
    changes = [
        (at(-30), "Faulted"),  # before the period: down at its start
        (at(10), None),
        (at(20), "Unavailable"),
        (at(25), "Faulted"),  # still down: one outage, its first cause
        (at(40), None),
        (at(50), "Faulted"),  # down past the period's end
    ]
    assert downtime.down_periods(changes, at(0), at(60)) == [
        Outage(at(0), at(10), "Faulted"),
        Outage(at(20), at(40), "Unavailable"),
        Outage(at(50), at(60), "Faulted"),
    ]


def test_a_first_connected_means_offline_until_then():
    changes = downtime.online_changes([(at(30), True), (at(40), False)])
    assert downtime.down_periods(changes, at(0), at(60)) == [
        Outage(at(0), at(30), OFFLINE),
        Outage(at(40), at(60), OFFLINE),
    ]


def test_the_state_before_the_period_decides_its_start_and_no_history_is_online():
    offline_before = downtime.online_changes([(at(30), True)], False, at(0))
    online_before = downtime.online_changes([(at(30), True)], True, at(0))
    assert downtime.down_periods(offline_before, at(0), at(60)) == [Outage(at(0), at(30), OFFLINE)]
    assert downtime.down_periods(online_before, at(0), at(60)) == []
    assert downtime.down_periods(downtime.online_changes([]), at(0), at(60)) == []


def test_statuses_are_down_when_a_port_cannot_charge():
    assert [downtime.cause(s) for s in ("Available", "Charging", "SuspendedEV", None)] == [None] * 4
    assert downtime.cause("Unavailable") == "Unavailable"
    assert downtime.cause("Faulted", "GroundFailure") == "Faulted: GroundFailure"
    assert downtime.cause("Faulted", "NoError") == "Faulted"


def _down_minutes(periods: list[timeline.Period]) -> int:
    down = {*downtime.DOWN_STATUSES, OFFLINE}
    return sum((p.end - p.start) // timedelta(minutes=1) for p in periods if p.state in down)


@pytest.mark.django_db
def test_the_timeline_and_uptime_see_the_same_down_time():
    """A week of May in Stockholm, both ports measured from its first minute: the
    timeline's down periods add up to uptime's outage minutes, port by port."""
    cp = charger(ports=2)
    commissioned(cp, local(2026, 5, 8, 0, 0))
    status(cp, 1, local(2026, 5, 9, 10, 0), "Faulted", "GroundFailure")  # 150 min
    status(cp, 1, local(2026, 5, 9, 12, 30), "Available")
    status(cp, 0, local(2026, 5, 10, 10, 30), "Faulted", "InternalError")  # 90, both ports
    status(cp, 0, local(2026, 5, 10, 12, 0), "Available")
    went(cp, "disconnected", local(2026, 5, 11, 11, 30))  # 90, both ports
    went(cp, "connected", local(2026, 5, 11, 13, 0))
    # The same moment twice: the one received later counts (up).
    status(cp, 1, local(2026, 5, 12, 8, 0), "Faulted", "OtherError")
    status(cp, 1, local(2026, 5, 12, 8, 0), "Available")
    status(cp, 2, local(2026, 5, 13, 8, 0), "Unavailable")  # 60 min
    status(cp, 2, local(2026, 5, 13, 9, 0), "Available")
    now = local(2026, 5, 15, 0, 0)

    _start, _end, connectors = timeline.charger_timeline(cp, now=now)
    drawn = {c.connector_id: _down_minutes(c.periods) for c in connectors}
    measured = {
        p.connector.connector_id: p.outage_minutes
        for p in uptime.month_uptime([cp], date(2026, 5, 1), now=now)
    }

    assert drawn == {1: 330, 2: 240}
    assert measured == drawn
