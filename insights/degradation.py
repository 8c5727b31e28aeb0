"""A generated fleet with injected degradation, to measure predictive maintenance.

Chargers of a few models (each model with its own normal fault, boot and failed-start
rates and power shortfall) run for `days` days; some fail on a day drawn at random, and
over the 10 to 28 days before it one or two of their metrics worsen steadily (the way a
contactor, a power module or a modem wears out). After its failure a charger is repaired
and normal again. Deterministic from `seed`.

`measure()` runs insights.maintenance.assess() daily, as the beat task does, and counts:
a flag is right when the charger fails within WARNING_DAYS after it (precision); a failure
is caught when its charger was flagged in the WARNING_DAYS before it (recall).
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta

from insights import maintenance
from insights.maintenance import Charger, Day

WARNING_DAYS = 21
# How often the assessment runs (the beat task: daily).
STEP_DAYS = 1
START = date(2026, 1, 5)
# model -> (faults/day, boots/day, failed-start share, power shortfall)
MODELS = {
    "AC22": (0.04, 0.02, 0.02, 0.04),
    "DC50": (0.10, 0.05, 0.05, 0.08),
    "DC150": (0.15, 0.08, 0.06, 0.10),
}


@dataclass(frozen=True)
class Fleet:
    chargers: list[Charger]
    # charger key -> the day it failed
    failures: dict[str, date]


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: the means here are small."""
    limit, k, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def generate(seed: int = 1, chargers: int = 60, days: int = 180, failing: int = 12) -> Fleet:
    """A fleet of `chargers`, `failing` of which fail once in the last two thirds."""
    rng = random.Random(seed)
    keys = [f"CP{i:03d}" for i in range(chargers)]
    failing_keys = set(rng.sample(keys, failing))
    fleet, failures = [], {}
    for key in keys:
        model = rng.choice(sorted(MODELS))
        fault_rate, boot_rate, failed_share, shortfall = MODELS[model]
        # Each unit differs a little from its model's average.
        spread = rng.uniform(0.7, 1.3)
        fail_day, ramp, worse = None, 0, ()
        if key in failing_keys:
            fail_day = rng.randrange(days // 3 + 30, days)
            ramp = rng.randrange(10, 29)
            worse = tuple(rng.sample(maintenance.METRICS, rng.choice((1, 2))))
            failures[key] = START + timedelta(days=fail_day)
        figures = {}
        for d in range(days):
            # 0 before the ramp, rising to 1 on the failure day, 0 after the repair.
            wear = 0.0
            if fail_day is not None and fail_day - ramp <= d <= fail_day:
                wear = (d - (fail_day - ramp)) / ramp
            starts = _poisson(rng, 8)
            f_rate = fault_rate * spread * (1 + 5 * wear * (maintenance.FAULTS in worse))
            b_rate = boot_rate * spread * (1 + 6 * wear * (maintenance.BOOTS in worse))
            share = failed_share * spread + 0.25 * wear * (maintenance.FAILED_STARTS in worse)
            short = shortfall * spread + 0.3 * wear * (maintenance.SHORTFALL in worse)
            possible = starts * rng.uniform(15, 25)
            short_today = min(1.0, max(0.0, rng.gauss(short, 0.03)))
            figures[START + timedelta(days=d)] = Day(
                faults=_poisson(rng, f_rate),
                boots=_poisson(rng, b_rate),
                starts=starts,
                failed_starts=sum(rng.random() < share for _ in range(starts)),
                delivered_kwh=possible * (1 - short_today),
                possible_kwh=possible,
            )
        fleet.append(Charger(key, model, figures))
    return Fleet(fleet, failures)


@dataclass(frozen=True)
class Measured:
    precision: float
    recall: float
    flags: int
    failures: int


def measure(fleet: Fleet, days: int = 180, start: date = START) -> Measured:
    """Daily assessments from the first day with a full baseline to `start` + `days`;
    see the module doc. The fleet's figures may be generated here or read from the
    database (insights.history.worn_fleet)."""
    first = start + timedelta(days=maintenance.RECENT_DAYS + maintenance.BASELINE_DAYS)
    end = start + timedelta(days=days)
    right = flags = 0
    caught: set[str] = set()
    as_of = first
    while as_of < end:
        for risk in maintenance.assess(fleet.chargers, as_of):
            if not risk.flagged:
                continue
            failed = fleet.failures.get(risk.key)
            if failed is not None and failed < as_of <= failed + timedelta(
                days=maintenance.RECENT_DAYS
            ):
                continue  # still seeing the failure it had: the repair's business
            flags += 1
            if failed is not None and as_of <= failed < as_of + timedelta(days=WARNING_DAYS):
                right += 1
                caught.add(risk.key)
        as_of += timedelta(days=STEP_DAYS)
    # Failures that happened while the checks ran, with a check in the warning window.
    counted = {key for key, day in fleet.failures.items() if first <= day < end}
    return Measured(
        precision=right / flags if flags else 0.0,
        recall=len(caught & counted) / len(counted) if counted else 0.0,
        flags=flags,
        failures=len(counted),
    )
