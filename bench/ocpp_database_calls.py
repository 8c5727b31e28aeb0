"""What a consumer's database call costs on PostgreSQL with and without the health check.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub \\
        .venv/bin/python bench/ocpp_database_calls.py --calls 2000

Each OCPP frame reaches the database through stations/ocpp/database.py. channels'
database_sync_to_async, with CONN_HEALTH_CHECKS (settings, PostgreSQL), sends a
`SELECT 1` before the first query of every call; ConsumerDatabaseCall trusts a connection
that was fine at the end of the last call. This times --calls calls of a one-query handler
through each, alternating in rounds so both see the same machine load, on one event loop
with --concurrency calls in flight (the thread pool, as under load). Prints calls/s and
the mean and p99 latency of each, the load average, and the ratio. It needs no tables.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargehub.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="per variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (health checks are its)")

    import django

    django.setup()
    from channels.db import database_sync_to_async
    from django.db import connection

    from stations.ocpp.database import ConsumerDatabaseCall

    def handler() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0]

    variants = {
        "database_sync_to_async (health check)": database_sync_to_async(
            handler, thread_sensitive=False
        ),
        "ConsumerDatabaseCall (no health check)": ConsumerDatabaseCall(
            handler, thread_sensitive=False
        ),
    }

    async def run(call, count: int) -> list[float]:
        latencies: list[float] = []
        queue = iter(range(count))

        async def worker() -> None:
            for _ in queue:
                started = time.perf_counter()
                await call()
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        return latencies

    async def bench() -> None:
        per_round = args.calls // args.rounds
        seen: dict[str, list[float]] = {name: [] for name in variants}
        wall: dict[str, float] = dict.fromkeys(variants, 0.0)
        for call in variants.values():
            await run(call, 50)  # connections opened, threads started
        for _ in range(args.rounds):
            for name, call in variants.items():
                started = time.perf_counter()
                seen[name] += await run(call, per_round)
                wall[name] += time.perf_counter() - started
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (end)")
        rates = {}
        for name, latencies in seen.items():
            latencies.sort()
            rates[name] = len(latencies) / wall[name]
            p99 = latencies[int(0.99 * (len(latencies) - 1))]
            print(
                f"{name:42s} {rates[name]:7.0f} calls/s  mean "
                f"{1000 * statistics.fmean(latencies):.2f} ms  p99 {1000 * p99:.2f} ms"
            )
        old, new = rates.values()
        print(f"ratio: {new / old:.2f}x the calls/s without the health check")

    asyncio.run(bench())


if __name__ == "__main__":
    main()
