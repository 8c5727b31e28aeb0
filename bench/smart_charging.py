"""What smart charging's allocation costs (stations/smart_charging.py, a pure function).

    .venv/bin/python bench/smart_charging.py [--connectors 500] [--sites 1000] [--per-site 20]

(a) One allocation for a site of `--connectors` connectors (target < 10 ms): a mix of
three-phase and one-phase chargers on all three phases, three priorities, some cars
drawing less than they were given (lending), some offline or refusing, a limit that
cannot serve everyone at full power. Prints p50/p95 of 200 runs.

(b) Recomputing `--sites` sites of `--per-site` connectors each, one after the other
(target < 2 s): the pure work of a minute in which every site changed.

No database: the run around it (stations/load_balancing.py) reads a site in three
queries and spends the rest of its time waiting for chargers' answers.
"""

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stations.smart_charging import ConnectorDemand, SiteLimit, allocate

T0 = datetime(2026, 12, 7, 8, tzinfo=UTC)
PHASE_SETS = [frozenset([1, 2, 3])] * 3 + [frozenset([1]), frozenset([2]), frozenset([3])]


def site(connectors: int, seed: int) -> tuple[SiteLimit, list[ConnectorDemand]]:
    """A site whose limit serves everyone the minimum but not everyone in full."""
    rng = random.Random(seed)
    demands = []
    for i in range(connectors):
        previous = Decimal(rng.choice([6, 10, 16, 32]))
        demands.append(
            ConnectorDemand(
                key=(f"CP-{i // 2}", i % 2 + 1),
                phases=rng.choice(PHASE_SETS),
                max_amps=Decimal(rng.choice([16, 32, 32, 63])),
                priority=rng.choice([0, 0, 0, 1, 2]),
                arrived_at=T0 + timedelta(seconds=rng.randrange(3600)),
                running=rng.random() < 0.8,
                online=rng.random() < 0.97,
                rejected=rng.random() < 0.01,
                previous_amps=previous,
                drawn_amps=previous - Decimal(rng.choice([0, 0, 0, 5])),
            )
        )
    return SiteLimit(amps=Decimal(connectors * 8)), demands


def timed(limit: SiteLimit, demands: list[ConnectorDemand]) -> tuple[float, float]:
    """(wall ms, CPU ms): on a shared machine the CPU time is the function's own cost."""
    wall, cpu = time.perf_counter(), time.process_time()
    allocate(limit, demands, T0)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=500)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--per-site", type=int, default=20)
    args = parser.parse_args()

    limit, demands = site(args.connectors, seed=1)
    result = allocate(limit, demands, T0)
    runs = [timed(limit, demands) for _ in range(200)]
    print(f"(a) one site of {args.connectors} connectors, 200 runs:")
    for name, values in (("wall", [w for w, _ in runs]), ("CPU", [c for _, c in runs])):
        values.sort()
        p50, p95 = statistics.median(values), values[int(len(values) * 0.95)]
        print(f"    {name:>4}: p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    print(
        f"    {len(result.limits)} allocated, {len(result.waiting)} waiting,"
        f" load {', '.join(f'L{p} {v} A' for p, v in result.load.items())} of {limit.amps} A"
    )

    sites = [site(args.per_site, seed=n) for n in range(args.sites)]
    wall, cpu = time.perf_counter(), time.process_time()
    for limit, demands in sites:
        allocate(limit, demands, T0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"(b) {args.sites} sites of {args.per_site} connectors: {wall:.3f} s ({cpu:.3f} s CPU)")


if __name__ == "__main__":
    main()
