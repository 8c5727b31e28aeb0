"""Insights' decisions benchmark: training the demand forecast, assessing predictive
maintenance and scoring site planning, on generated figures (no database: these are the
pure cores; reading the database is the rollups' business).

    .venv/bin/python bench/forecast.py --sites 20 --weeks 26 --chargers 1000

Prints, with the load average at start:
1. one site's weekly retrain (26 weeks of hourly occupancy: the backtest's 2 fits and the
   forecast's 1), and --sites of them (what the weekly task does);
2. one daily maintenance assessment of --chargers chargers (70 days of figures each), and
   the precision and recall on the three generated fleets (insights/degradation.py);
3. planning: 200 sites, 2,000 grid cells with empty searches, 50 candidates.
"""

import argparse
import math
import os
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from insights import degradation, forecast, maintenance, planning

START = datetime(2026, 1, 5, tzinfo=UTC)


def occupancy(rng: random.Random, weeks: int, connectors: int) -> dict[datetime, float]:
    """Hourly busy connectors: evening and morning peaks, quieter weekends, noise."""
    history = {}
    for h in range(weeks * 168):
        hour = START + timedelta(hours=h)
        local = (hour.hour + 1) % 24
        base = 0.6 * math.exp(-((local - 18) ** 2) / 6) + 0.35 * math.exp(-((local - 8) ** 2) / 4)
        if hour.weekday() >= 5:
            base *= 0.6
        history[hour] = min(connectors, max(0.0, connectors * base + rng.gauss(0, 0.7)))
    return history


def timed(label: str, work) -> object:
    began, cpu = time.perf_counter(), time.process_time()
    result = work()
    print(
        f"{label}: {time.perf_counter() - began:.2f} s wall, {time.process_time() - cpu:.2f} s CPU"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--chargers", type=int, default=1000)
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rng = random.Random(1)
    now = START + timedelta(weeks=args.weeks)
    histories = [occupancy(rng, args.weeks, 6) for _ in range(args.sites)]

    def one_site() -> None:
        forecast.backtest(histories[0], now, 6)
        forecast.forecast(histories[0], now, 6)

    def every_site() -> list[forecast.Backtest | None]:
        scores = []
        for history in histories:
            scores.append(forecast.backtest(history, now, 6))
            forecast.forecast(history, now, 6)
        return scores

    timed(f"forecast: one site's retrain ({args.weeks} weeks)", one_site)
    scores = timed(f"forecast: {args.sites} sites' retrain", every_site)
    ratios = [s.model_mae / s.baseline_mae for s in scores if s]
    print(f"  model error / seasonal-naive error: mean {sum(ratios) / len(ratios):.3f}")

    fleet = degradation.generate(seed=1, chargers=args.chargers, days=70, failing=0)
    timed(
        f"maintenance: one assessment of {args.chargers} chargers",
        lambda: maintenance.assess(fleet.chargers, date(2026, 1, 5) + timedelta(days=70)),
    )
    for seed in (1, 2, 3):
        measured = timed(
            f"maintenance: measure fleet {seed} (60 chargers, 180 days, daily)",
            lambda seed=seed: degradation.measure(degradation.generate(seed)),
        )
        print(
            f"  precision {measured.precision:.2f} ({measured.flags} flags), "
            f"recall {measured.recall:.2f} ({measured.failures} failures)"
        )

    sites = [
        planning.SiteFigures(
            i,
            f"S{i}",
            (55 + rng.random() * 9, 11 + rng.random() * 10),
            rng.random() * 50,
            rng.randrange(20),
        )
        for i in range(200)
    ]
    searches = [
        planning.EmptySearches((55 + rng.random() * 9, 11 + rng.random() * 10), rng.randrange(1, 9))
        for _ in range(2000)
    ]
    candidates = [
        planning.Candidate(i, f"C{i}", (55 + rng.random() * 9, 11 + rng.random() * 10), 1000)
        for i in range(50)
    ]

    def plan() -> None:
        ranked = planning.rank_sites(sites, searches)
        planning.score_candidates(candidates, ranked, searches)

    timed("planning: 200 sites, 2,000 cells, 50 candidates", plan)


if __name__ == "__main__":
    main()
