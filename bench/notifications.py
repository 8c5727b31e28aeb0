""""A free charger near me" at scale: 10,000 drivers watching, connectors freed one after
another; time to match a status change and to tell the drivers it suits.

    .venv/bin/python bench/notifications.py --watchers 10000 --changes 1000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub \\
        .venv/bin/python bench/notifications.py --watchers 10000 --changes 1000

Builds its data in a throwaway database (bench/scratch_database.py). The data: --watchers
drivers, each with a nearby watch (notifications.models.NearbyWatch): six in ten within
about 40 km of one of five cities, the rest anywhere in Sweden; radius 1-10 km; a third
want CCS 2, a third Type 2, a third any, half of them at least 50 kW. --changes sites with
one connector each, spread the same way, all Charging.

Then, in process (no network):
1. match: `nearby.matches(connector)` for each connector (the bounding box in SQL, the
   distance per watch), p50/p95/max in ms (wall, and this process's CPU: on a shared
   machine the wall time includes waiting for a core) and its queries: the target is
   < 20 ms against 10,000 watches.
2. change: each connector becomes Available and `nearby.tell_watchers()` runs as the task
   does: match, end each watch and write its outbox message in one transaction, then
   deliver it (these drivers have no push subscription: the portal channel, a
   Notification row and the live message through the channel layer), back to back; the
   total against a minute (1,000 changes a minute) and the outbox messages sent.
"""

import argparse
import os
import random
import statistics
import time
from datetime import timedelta
from decimal import Decimal

from scratch_database import scratch_database

LAT_RANGE = (55.4, 67.8)
LON_RANGE = (11.2, 23.8)
# Göteborg, Stockholm, Malmö, Uppsala, Linköping.
CITIES = [
    (57.7089, 11.9746),
    (59.3293, 18.0686),
    (55.6050, 13.0038),
    (59.8586, 17.6389),
    (58.4108, 15.6214),
]


def _spot(rng: random.Random) -> tuple[float, float]:
    """Near a city (six in ten, within about 40 km), else anywhere in Sweden."""
    if rng.random() < 0.6:
        lat, lon = rng.choice(CITIES)
        return lat + rng.uniform(-0.36, 0.36), lon + rng.uniform(-0.65, 0.65)
    return rng.uniform(*LAT_RANGE), rng.uniform(*LON_RANGE)


def build_data(watchers: int, sites: int, seed: int = 42) -> list[int]:
    """The watches and the sites; returns the connectors' ids."""
    from django.utils import timezone

    from notifications import nearby
    from notifications.models import NearbyWatch
    from stations.models import ChargePoint, Connector, Site
    from users.models import User

    rng = random.Random(seed)
    now = timezone.now()
    users = User.objects.bulk_create(
        [
            User(email=f"watcher{n}@example.com", password="!", language="en")
            for n in range(watchers)
        ],
        batch_size=1000,
    )
    types = ["CCS2", "Type2", ""]
    watches = []
    for n, user in enumerate(users):
        lat, lon = _spot(rng)
        radius = Decimal(rng.randint(10, 100)) / 10
        watches.append(
            NearbyWatch(
                user=user,
                latitude=lat,
                longitude=lon,
                **nearby.box_around(lat, lon, float(radius)),
                radius_km=radius,
                connector_type=types[n % 3],
                min_power_kw=Decimal(50) if n % 2 else None,
                started_at=now,
                position_at=now,
                expires_at=now + timedelta(minutes=30),
            )
        )
    NearbyWatch.objects.bulk_create(watches, batch_size=1000)
    site_rows = []
    for n in range(sites):
        lat, lon = _spot(rng)
        site_rows.append(
            Site(
                name=f"Laddplats {n:05d}",
                latitude=Decimal(f"{lat:.6f}"),
                longitude=Decimal(f"{lon:.6f}"),
            )
        )
    site_rows = Site.objects.bulk_create(site_rows, batch_size=1000)
    points = ChargePoint.objects.bulk_create(
        [
            ChargePoint(
                charge_point_id=f"BENCH-{n:05d}", site=site, is_connected=True, last_seen_at=now
            )
            for n, site in enumerate(site_rows)
        ],
        batch_size=1000,
    )
    connectors = Connector.objects.bulk_create(
        [
            Connector(
                charge_point=point,
                connector_id=1,
                connector_type="CCS2" if n % 2 else "Type2",
                max_power_kw=Decimal(150 if n % 4 == 1 else 22 if n % 2 == 0 else 50),
                status="Charging",
            )
            for n, point in enumerate(points)
        ],
        batch_size=1000,
    )
    return [connector.pk for connector in connectors]


def percentiles(times: list[float]) -> str:
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    return f"p50 {statistics.median(times):.2f}  p95 {p95:.2f}  max {max(times):.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--watchers", type=int, default=10000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if not 1 <= args.watchers <= 200_000 or not 1 <= args.changes <= 20_000:
        raise SystemExit("Bounds: 1..200000 watchers, 1..20000 changes")
    with scratch_database("notifications", keep=args.keep) as database:
        run(args, database)


def run(args: argparse.Namespace, database: str) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications import nearby
    from notifications.models import NearbyWatch, OutboxMessage
    from stations.models import Connector

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"database: {database}")
    t0 = time.perf_counter()
    connector_ids = build_data(args.watchers, args.changes)
    print(
        f"data: {args.watchers} watches, {args.changes} connectors "
        f"in {time.perf_counter() - t0:.1f} s"
    )

    connectors = list(
        Connector.objects.filter(pk__in=connector_ids).select_related("charge_point__site")
    )
    with CaptureQueriesContext(connection) as queries:
        nearby.matches(connectors[0])  # and a warm-up
    times, cpu, found = [], [], []
    for connector in connectors:
        start, start_cpu = time.perf_counter(), time.process_time()
        found.append(len(nearby.matches(connector)))
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    print(
        f"match against {args.watchers} watches: {percentiles(times)}"
        f" ({len(queries)} queries; {statistics.mean(found):.1f} watches suit a connector"
        f" on average, at most {max(found)})"
    )
    # This process's CPU: on SQLite the database's work too, on PostgreSQL only Django's.
    print(f"  CPU of this process: {percentiles(cpu)}")

    times = []
    told = 0
    start_all = time.perf_counter()
    for connector in connectors:
        start = time.perf_counter()
        Connector.objects.filter(pk=connector.pk).update(status="Available")
        told += nearby.tell_watchers(connector.pk)
        times.append((time.perf_counter() - start) * 1000)
    total = time.perf_counter() - start_all
    print(
        f"status change -> match, end watches, tell: {percentiles(times)}; "
        f"{len(connectors)} changes in {total:.1f} s ({len(connectors) / total * 60:,.0f}/min); "
        f"{told} drivers told, "
        f"{OutboxMessage.objects.filter(state=OutboxMessage.State.SENT).count()} messages sent, "
        f"{NearbyWatch.objects.count()} watches left"
    )
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
