"""The demand forecast's calendar, hint and "full" rules (insights/forecast.py), on
hand-made figures."""

from datetime import UTC, date, datetime, timedelta

from insights import forecast
from insights.forecast import Hint, Prediction

MONDAY = datetime(2026, 6, 1, tzinfo=UTC)


def test_swedish_public_holidays_but_not_ordinary_sundays() -> None:
    assert forecast.is_holiday(date(2026, 12, 25))  # juldagen, a Friday
    assert forecast.is_holiday(date(2026, 6, 6))  # nationaldagen
    assert forecast.is_holiday(date(2026, 5, 14))  # Kristi himmelsfärds dag (movable)
    assert not forecast.is_holiday(date(2026, 12, 22))
    assert not forecast.is_holiday(date(2026, 6, 7))  # a Sunday: the hour of week knows it


def test_a_history_shorter_than_five_weeks_forecasts_nothing() -> None:
    history = {MONDAY + timedelta(hours=h): 1.0 for h in range(4 * 168)}
    now = MONDAY + timedelta(weeks=4)
    assert forecast.forecast(history, now, connectors=4) == []
    assert forecast.backtest(history, now, connectors=4) is None


def week(shape: dict[int, float], other: float) -> list[Prediction]:
    """A week of predictions with the same local (CEST, UTC+2) hours every day."""
    return [
        Prediction(hour, shape.get((hour + timedelta(hours=2)).hour, other))
        for hour in (MONDAY + timedelta(hours=h) for h in range(168))
    ]


def test_hint_names_the_busy_evening_and_the_quiet_afternoon_in_local_time() -> None:
    # 16:00 is busy too, but well below the 17-19 peak; 14:00 is the quietest daytime hour.
    predictions = week({16: 3.0, 17: 4.0, 18: 3.7, 14: 0.2, 3: 0.0}, other=1.5)
    assert forecast.hint(predictions, connectors=4) == Hint(17, 19, 14)


def test_no_hint_where_it_is_never_half_full() -> None:
    predictions = week({17: 1.9}, other=1.0)
    assert forecast.hint(predictions, connectors=4) == Hint(None, None, None)


def test_no_quieter_hour_where_the_day_is_evenly_busy() -> None:
    predictions = week({17: 4.0}, other=3.0)
    assert forecast.hint(predictions, connectors=4) == Hint(17, 18, None)


def test_full_hours_are_those_with_nine_tenths_of_connectors_busy() -> None:
    predictions = week({17: 3.6, 18: 3.5}, other=1.0)
    full = forecast.full_hours(predictions, connectors=4)
    assert len(full) == 7
    assert all((hour + timedelta(hours=2)).hour == 17 for hour in full)
