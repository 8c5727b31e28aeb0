"""The cheapest schedule that meets a departure (charging/cheap_hours.py), as pure rules."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from charging.cheap_hours import cheapest_schedule, quarters, tx_profile

EVENING = datetime(2026, 12, 7, 17, 10, tzinfo=UTC)


def night_is_cheap(at: datetime) -> Decimal:
    """3 SEK/kWh until 22:00, 1.50 from then on."""
    return Decimal("1.50") if at.hour >= 22 or at.hour < 6 else Decimal(3)


def test_quarters_follow_the_clock():
    steps = quarters(EVENING, EVENING + timedelta(minutes=40))
    assert [(s.strftime("%H:%M"), e.strftime("%H:%M")) for s, e in steps] == [
        ("17:10", "17:15"),
        ("17:15", "17:30"),
        ("17:30", "17:45"),
        ("17:45", "17:50"),
    ]


def test_the_energy_is_delivered_in_the_cheap_hours_before_departure():
    departure = datetime(2026, 12, 8, 7, 0, tzinfo=UTC)

    # 22 kWh at 11 kW: two hours, both after 22:00.
    periods = cheapest_schedule(EVENING, departure, 22_000, 11_000, night_is_cheap)

    assert sum(p.wh for p in periods) == 22_000
    charging = [p for p in periods if p.watts]
    assert [(p.start.strftime("%H:%M"), p.end.strftime("%H:%M"), p.watts) for p in charging] == [
        ("22:00", "00:00", 11_000)
    ]
    assert periods[0].start == EVENING and periods[-1].end == departure


def test_the_last_quarter_is_only_as_much_as_is_needed():
    departure = EVENING + timedelta(hours=10)

    periods = cheapest_schedule(EVENING, departure, 5_000, 11_000, night_is_cheap)

    charging = [p for p in periods if p.watts]
    assert [(p.start.strftime("%H:%M"), p.watts) for p in charging] == [
        ("22:00", 11_000),
        ("22:15", 9_000),  # 2.75 kWh + 2.25 kWh
    ]
    assert sum(p.wh for p in periods) == 5_000


def test_too_little_time_charges_now_at_full_power():
    departure = EVENING + timedelta(hours=1)

    periods = cheapest_schedule(EVENING, departure, 50_000, 11_000, night_is_cheap)

    assert [(p.start, p.end, p.watts) for p in periods] == [(EVENING, departure, 11_000)]


def test_the_profile_is_an_absolute_tx_profile_in_watts():
    departure = EVENING + timedelta(hours=6)
    periods = cheapest_schedule(EVENING, departure, 11_000, 11_000, night_is_cheap)

    profile = tx_profile(periods)

    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["chargingProfileKind"] == "Absolute"
    schedule = profile["chargingSchedule"]
    assert schedule["startSchedule"] == EVENING.isoformat()
    assert schedule["duration"] == 6 * 3600
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 0},
        {"startPeriod": 4 * 3600 + 50 * 60, "limit": 11_000},
        {"startPeriod": 5 * 3600 + 50 * 60, "limit": 0},
    ]


@given(
    minutes=st.integers(1, 24 * 60),
    energy_wh=st.integers(0, 100_000),
    max_watts=st.integers(1_000, 350_000),
    offset=st.integers(0, 3599),
)
def test_any_schedule_meets_the_energy_if_it_can_and_never_costs_more_than_charging_now(
    minutes, energy_wh, max_watts, offset
):
    now = EVENING + timedelta(seconds=offset)
    departure = now + timedelta(minutes=minutes)

    periods = cheapest_schedule(now, departure, energy_wh, max_watts, night_is_cheap)
    now_first = cheapest_schedule(now, departure, energy_wh, max_watts, lambda at: Decimal(1))

    delivered = sum(p.wh for p in periods)
    possible = Decimal(max_watts) * Decimal(minutes * 60) / 3600
    assert all(0 <= p.watts <= max_watts for p in periods)
    assert periods[0].start == now and periods[-1].end == departure
    assert delivered >= min(Decimal(energy_wh), possible)
    assert delivered - min(Decimal(energy_wh), possible) < 1  # at most a rounding watt

    def cost(schedule):
        # Priced quarter by quarter: a merged period may span a change of price.
        return sum(
            Decimal(p.watts) * Decimal((end - start).total_seconds()) / 3600 * night_is_cheap(start)
            for p in schedule
            for start, end in quarters(p.start, p.end)
        )

    # Cheaper than (or as cheap as) charging at once, up to a rounding watt's price.
    assert cost(periods) <= cost(now_first) + 3
