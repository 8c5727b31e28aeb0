"""Demand forecast: expected occupancy (connectors busy) per site and hour, 7 days ahead.

Pure: the input is a site's hourly occupancy history (UTC hour -> connectors busy on
average in that hour), the output a list of hourly predictions and the backtest figures;
insights/forecasting.py reads the history from the database and stores what this returns.

The model is scikit-learn's HistGradientBoostingRegressor (pinned in requirements.txt):
maintained, in one package with no compiler or system library, fast on a few thousand
rows per site on a shared 2-core machine, and it learns the interaction of hour of week,
holidays and trend without hand-made terms (statsmodels' seasonal models need a regular
series per site and fit slower; LightGBM adds a native library for no gain at this size).

Features per hour (site's local time): hour of week, a Swedish public holiday (the
`holidays` package, pinned: maintained, covers movable feasts such as Midsummer Eve), the
day before one, the trend (days since the history began), the same hour 1 week before and
the mean of the same hour 1 to 4 weeks before. Every lag is at least a week old, so the
whole 7-day horizon is predicted from known values. The baseline is seasonal-naive: the
same hour last week. Both are scored as mean absolute error on held-back weeks (each week
predicted from the history before it only).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

HOUR = timedelta(hours=1)
WEEK_HOURS = 168
HORIZON_HOURS = WEEK_HOURS
# Weeks of lags in the features; a history shorter than this plus a week cannot be fitted.
LAG_WEEKS = 4
MIN_HISTORY_HOURS = (LAG_WEEKS + 1) * WEEK_HOURS
# Predicted occupancy at or above this share of a site's connectors: the site is "full".
FULL_SHARE = 0.9


@dataclass(frozen=True)
class Prediction:
    """Connectors expected busy on average during the hour starting at `hour` (UTC)."""

    hour: datetime
    occupancy: float


@dataclass(frozen=True)
class Backtest:
    """Mean absolute error (connectors) of the model and of seasonal-naive over `weeks`
    held-back weeks."""

    weeks: int
    model_mae: float
    baseline_mae: float

    @property
    def beats_baseline(self) -> bool:
        return self.model_mae < self.baseline_mae


@cache
def _swedish_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("SE", years=year))


def is_holiday(day: date) -> bool:
    """A Swedish public holiday (Sundays, which the package also lists, are left out:
    the hour of week already knows them)."""
    return day in _swedish_holidays(day.year) and day.weekday() != 6


def _series(history: Mapping[datetime, float], start: datetime, end: datetime) -> np.ndarray:
    """Occupancy for every hour in [start, end); an hour without a row was idle (0)."""
    hours = int((end - start) / HOUR)
    return np.array([history.get(start + i * HOUR, 0.0) for i in range(hours)], dtype=float)


def _features(
    hours: Sequence[datetime], values: np.ndarray, offset: int, origin: datetime, zone: ZoneInfo
) -> np.ndarray:
    """One feature row per hour; `values[offset + i]` is hour i's own place in the series,
    so its lags are `values[offset + i - k * 168]`."""
    rows = []
    for i, hour in enumerate(hours):
        local = hour.astimezone(zone)
        lags = [values[offset + i - k * WEEK_HOURS] for k in range(1, LAG_WEEKS + 1)]
        rows.append(
            [
                local.weekday() * 24 + local.hour,
                float(is_holiday(local.date())),
                float(is_holiday(local.date() + timedelta(days=1))),
                (hour - origin) / timedelta(days=1),
                lags[0],
                sum(lags) / LAG_WEEKS,
            ]
        )
    return np.array(rows, dtype=float)


def _fit(values: np.ndarray, start: datetime, zone: ZoneInfo) -> HistGradientBoostingRegressor:
    first = LAG_WEEKS * WEEK_HOURS
    hours = [start + i * HOUR for i in range(first, len(values))]
    x = _features(hours, values, first, start, zone)
    # Hour of week as categories: each hour its own level; a fixed seed keeps it repeatable.
    model = HistGradientBoostingRegressor(
        max_iter=100, learning_rate=0.1, random_state=0, categorical_features=[0]
    )
    # One thread: OpenMP's threads fight over a shared machine's cores (30x slower there).
    with threadpool_limits(limits=1):
        model.fit(x, values[first:])
    return model


def _predict(
    model: HistGradientBoostingRegressor,
    values: np.ndarray,
    start: datetime,
    zone: ZoneInfo,
    connectors: int,
) -> list[float]:
    """The next HORIZON_HOURS after `values`, clipped to [0, connectors]."""
    padded = np.concatenate([values, np.zeros(HORIZON_HOURS)])
    hours = [start + (len(values) + i) * HOUR for i in range(HORIZON_HOURS)]
    x = _features(hours, padded, len(values), start, zone)
    with threadpool_limits(limits=1):
        predicted = model.predict(x)
    return [float(v) for v in np.clip(predicted, 0, connectors)]


def forecast(
    history: Mapping[datetime, float],
    now: datetime,
    connectors: int,
    time_zone: str = "Europe/Stockholm",
) -> list[Prediction]:
    """Occupancy for the HORIZON_HOURS from the hour `now` falls in, learnt from every
    whole hour of `history` before it; empty when the history is too short."""
    end = now.replace(minute=0, second=0, microsecond=0)
    if not history:
        return []
    start = min(history)
    values = _series(history, start, end)
    if len(values) < MIN_HISTORY_HOURS:
        return []
    zone = ZoneInfo(time_zone)
    model = _fit(values, start, zone)
    predicted = _predict(model, values, start, zone, connectors)
    return [Prediction(end + i * HOUR, v) for i, v in enumerate(predicted)]


def backtest(
    history: Mapping[datetime, float],
    now: datetime,
    connectors: int,
    weeks: int = 2,
    time_zone: str = "Europe/Stockholm",
) -> Backtest | None:
    """Hold back the last `weeks` whole weeks before `now`: predict each from the history
    before it, against seasonal-naive (the same hour a week before). None when the
    history is too short to hold any week back."""
    end = now.replace(minute=0, second=0, microsecond=0)
    if not history:
        return None
    start = min(history)
    values = _series(history, start, end)
    weeks = min(weeks, (len(values) - MIN_HISTORY_HOURS) // WEEK_HOURS)
    if weeks < 1:
        return None
    zone = ZoneInfo(time_zone)
    model_errors, baseline_errors = [], []
    for week in range(weeks, 0, -1):
        cut = len(values) - week * WEEK_HOURS
        known, actual = values[:cut], values[cut : cut + WEEK_HOURS]
        predicted = _predict(_fit(known, start, zone), known, start, zone, connectors)
        naive = values[cut - WEEK_HOURS : cut]
        model_errors.append(np.abs(np.array(predicted) - actual).mean())
        baseline_errors.append(np.abs(naive - actual).mean())
    return Backtest(weeks, float(np.mean(model_errors)), float(np.mean(baseline_errors)))


def full_hours(predictions: Sequence[Prediction], connectors: int) -> list[datetime]:
    """The hours a site is expected to be full (FULL_SHARE of its connectors busy)."""
    return [p.hour for p in predictions if connectors and p.occupancy >= FULL_SHARE * connectors]


# The hint on the station page: a site is "usually busy" only where its busiest hour has at
# least this share of connectors busy, and the busy run is the hours around that peak
# within RUN_SHARE of it (a busy site is busy all day; drivers want to know its peak).
BUSY_SHARE = 0.5
RUN_SHARE = 0.9
# Only daytime hours are suggested as quieter (nobody is told to come at 03:00).
DAY_HOURS = range(7, 22)


@dataclass(frozen=True)
class Hint:
    """The station page's "usually busy 17-19" (local hours, `busy_to` exclusive) and
    "quieter at 14:00"; either may be None."""

    busy_from: int | None
    busy_to: int | None
    quiet_at: int | None


def hint(
    predictions: Sequence[Prediction], connectors: int, time_zone: str = "Europe/Stockholm"
) -> Hint:
    """The run of local hours around the day's peak (mean share over the forecast's days),
    when the peak is at least BUSY_SHARE; and the quietest daytime hour, given only when
    it is at most half as busy as the peak."""
    if not predictions or not connectors:
        return Hint(None, None, None)
    zone = ZoneInfo(time_zone)
    totals, counts = [0.0] * 24, [0] * 24
    for p in predictions:
        local_hour = p.hour.astimezone(zone).hour
        totals[local_hour] += p.occupancy / connectors
        counts[local_hour] += 1
    share = [totals[h] / counts[h] if counts[h] else 0.0 for h in range(24)]
    peak = max(range(24), key=lambda hour: (share[hour], -hour))
    if share[peak] < BUSY_SHARE:
        return Hint(None, None, None)
    floor = RUN_SHARE * share[peak]
    busy_from, busy_to = peak, peak + 1
    while busy_from > 0 and share[busy_from - 1] >= floor:
        busy_from -= 1
    while busy_to < 24 and share[busy_to] >= floor:
        busy_to += 1
    quiet = min(DAY_HOURS, key=lambda hour: (share[hour], hour))
    quiet_at = quiet if share[quiet] <= share[peak] / 2 else None
    return Hint(busy_from, busy_to, quiet_at)
