"""Uptime benchmark: N ports with a year of status history, one full 12-month recompute,
the admin's uptime report and the uptime API.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub \\
        .venv/bin/python bench/uptime.py --connectors 5000 --days 365
    .venv/bin/python bench/uptime.py --connectors 200 --days 60      # SQLite, small

Builds its data in a throwaway database (bench/scratch_database.py: with DATABASE_URL a
fresh `chargehub_bench_uptime_<pid>` on that PostgreSQL server, dropped afterwards; else
SQLite in a temporary directory). Chargers of 2 ports (plus connector 0) at sites of 25
chargers, in Stockholm. Every port gets about --per-day status notifications a day up to
now: a charging cycle (Available, Preparing, Charging, Finishing), 1 in 200 of them
Faulted and 1 in 400 Unavailable (each lasting until the next notification, ~2.4 h);
connector 0 faults about twice a year; each charger goes offline about every ten days for
up to an hour. On PostgreSQL the rows are made by the database (INSERT … SELECT over
generate_series: 18 M rows in minutes, no Python loop); on SQLite by bulk_create.

Then it times:

1. the full recompute of the last 12 months for every port (`figures.refresh`, what the
   nightly task runs), and this and last month (`refresh_recent_uptime`, every 15 min);
2. the uptime report in admin (`/admin/operations/uptimemonth/`, the whole network, the
   month and 12 months), one site's and one charger's, and the outage list: the first
   load (the report's figures computed) and the median of --loads after it (cached until
   the summary changes), with the CPU time spent in this process;
3. the API for one site and one charger (computed from the history on each call).
"""

import argparse
import os
import random
import statistics
import time
from datetime import timedelta

from scratch_database import scratch_database

CHARGERS_PER_SITE = 25
PORTS = 2
CYCLE = ("Available", "Preparing", "Charging", "Finishing")


def build_postgres(chargers: int, days: int, per_day: int, now_epoch: float) -> int:
    """The history made by PostgreSQL itself; returns the number of status rows."""
    from django.db import connection

    step = 86400 / per_day
    start = now_epoch - days * 86400
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        # Ports: one status every `step` seconds (jittered within it), in order.
        cursor.execute(
            """
            INSERT INTO stations_statusevent (connector_id, status, error_code, info,
                vendor_id, vendor_error_code, timestamp, clock_suspect, received_at)
            SELECT c.id,
                CASE WHEN g.r < 0.005 THEN 'Faulted' WHEN g.r < 0.0075 THEN 'Unavailable'
                     ELSE (ARRAY['Available', 'Preparing', 'Charging', 'Finishing'])[g.i %% 4 + 1]
                END,
                CASE WHEN g.r < 0.005 THEN 'GroundFailure' ELSE 'NoError' END,
                '', '', '', g.at, false, g.at
            FROM stations_connector c
            CROSS JOIN LATERAL (
                -- c.id > 0: correlated, so each port gets its own random numbers.
                SELECT i, random() AS r,
                       to_timestamp(%s + i * %s + floor(random() * %s * 0.9)) AS at
                FROM generate_series(0, %s - 1) AS i WHERE c.id > 0
            ) g
            WHERE c.connector_id > 0
            """,
            [start, step, step, days * per_day],
        )
        rows = cursor.rowcount
        # Connector 0: Available at the start, a fault about twice a year (2-6 h).
        cursor.execute(
            """
            INSERT INTO stations_statusevent (connector_id, status, error_code, info,
                vendor_id, vendor_error_code, timestamp, clock_suspect, received_at)
            SELECT c.id, e.status, e.error_code, '', '', '', e.at, false, e.at
            FROM stations_connector c
            CROSS JOIN LATERAL (
                SELECT 'Available' AS status, 'NoError' AS error_code, to_timestamp(%s) AS at
                UNION ALL
                SELECT v.status, v.error_code, f.at + v.after
                FROM (SELECT to_timestamp(%s + random() * %s) AS at,
                             make_interval(hours => 2 + floor(random() * 4)::int) AS span
                      FROM generate_series(1, greatest(1, %s / 180)) WHERE c.id > 0) f,
                LATERAL (VALUES ('Faulted', 'InternalError', interval '0'),
                                ('Available', 'NoError', f.span)) v(status, error_code, after)
            ) e
            WHERE c.connector_id = 0
            """,
            [start, start, days * 86400, days],
        )
        rows += cursor.rowcount
        # Online history: connected at the start, offline for 5-60 min every ~10 days.
        cursor.execute(
            """
            INSERT INTO stations_connectionevent (charge_point_id, kind, at)
            SELECT cp.id, 'connected', to_timestamp(%s) FROM stations_chargepoint cp
            UNION ALL
            SELECT cp.id, v.kind, o.at + v.after
            FROM stations_chargepoint cp
            CROSS JOIN LATERAL (
                SELECT to_timestamp(%s + (n + random()) * 864000) AS at,
                       make_interval(mins => 5 + floor(random() * 55)::int) AS span
                FROM generate_series(0, greatest(0, %s / 10 - 1)) n WHERE cp.id > 0
            ) o,
            LATERAL (VALUES ('disconnected', interval '0'), ('connected', o.span)) v(kind, after)
            """,
            [start, start, days],
        )
        cursor.execute("ANALYZE")
    return rows


def build_sqlite(chargers: int, days: int, per_day: int, now_epoch: float) -> int:
    """The same history made in Python (small runs only)."""
    from datetime import UTC, datetime

    from stations.models import ChargePoint, ConnectionEvent, Connector, StatusEvent

    rng = random.Random(42)
    step = 86400 / per_day
    start = now_epoch - days * 86400
    at = lambda seconds: datetime.fromtimestamp(seconds, UTC)  # noqa: E731
    rows = 0
    batch: list[StatusEvent] = []
    for connector in Connector.objects.all():
        if connector.connector_id == 0:
            batch.append(StatusEvent(connector=connector, status="Available", timestamp=at(start)))
            continue
        for i in range(days * per_day):
            r = rng.random()
            status = "Faulted" if r < 0.005 else "Unavailable" if r < 0.0075 else CYCLE[i % 4]
            when = at(start + i * step + rng.random() * step * 0.9)
            batch.append(
                StatusEvent(
                    connector=connector,
                    status=status,
                    error_code="GroundFailure" if status == "Faulted" else "NoError",
                    timestamp=when,
                    received_at=when,
                )
            )
        if len(batch) > 20_000:
            StatusEvent.objects.bulk_create(batch, batch_size=5_000)
            rows += len(batch)
            batch = []
    StatusEvent.objects.bulk_create(batch, batch_size=5_000)
    rows += len(batch)
    ConnectionEvent.objects.bulk_create(
        ConnectionEvent(charge_point=cp, kind="connected", at=at(start))
        for cp in ChargePoint.objects.all()
    )
    return rows


def build(connectors: int, days: int, per_day: int, postgres: bool) -> tuple[int, int]:
    from django.utils import timezone

    from stations.models import ChargePoint, Connector, Site

    chargers = max(1, connectors // PORTS)
    sites = [
        Site(name=f"Site {n:03d}", time_zone="Europe/Stockholm")
        for n in range((chargers + CHARGERS_PER_SITE - 1) // CHARGERS_PER_SITE)
    ]
    Site.objects.bulk_create(sites)
    sites = list(Site.objects.order_by("pk"))
    models = [("ABB", "Terra 54"), ("Zaptec", "Go"), ("Kempower", "S-Series"), ("Easee", "Home")]
    charge_points = [
        ChargePoint(
            charge_point_id=f"CP-{n:05d}",
            site=sites[n // CHARGERS_PER_SITE],
            allow_unauthenticated=True,
            vendor=models[n % 4][0],
            model=models[n % 4][1],
        )
        for n in range(chargers)
    ]
    ChargePoint.objects.bulk_create(charge_points, batch_size=2_000)
    Connector.objects.bulk_create(
        (
            Connector(charge_point=cp, connector_id=number)
            for cp in ChargePoint.objects.all()
            for number in range(PORTS + 1)
        ),
        batch_size=5_000,
    )
    now_epoch = timezone.now().timestamp()
    builder = build_postgres if postgres else build_sqlite
    return chargers, builder(chargers, days, per_day, now_epoch)


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def median_ms(client, url: str, loads: int) -> tuple[float, float, float]:
    """The first GET's wall time (the report's figures not cached yet), the median wall
    time of the `loads` after it, and their median CPU time in this process (the rest is
    the database, and waiting for a core on a busy machine), in ms. An answer other than
    200 stops the run."""
    times, cpu = [], []
    for _ in range(loads + 1):
        started, started_cpu = time.perf_counter(), time.process_time()
        status = client.get(url).status_code
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        if status != 200:
            raise SystemExit(f"HTTP {status} for {url}")
    return times[0], statistics.median(times[1:]), statistics.median(cpu[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connectors", type=int, default=5000, help="ports (2 per charger)")
    parser.add_argument("--days", type=int, default=365, help="days of history up to now")
    parser.add_argument("--per-day", type=int, default=10, help="statuses per port per day")
    parser.add_argument("--loads", type=int, default=5, help="page loads to time (median)")
    parser.add_argument(
        "--database",
        help="PostgreSQL: keep the data in this database, and when it exists time again "
        "on its data without building it (the other sizes are then ignored)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the 12-month recompute (cProfile)"
    )
    args = parser.parse_args()
    postgres = bool(os.environ.get("DATABASE_URL"))
    # The test client speaks plain HTTP, and a bench has no second factor to show.
    os.environ.update(SECURE_SSL_REDIRECT="0", ADMIN_REQUIRE_MFA="0")
    load = os.getloadavg()[0]

    with scratch_database("uptime", database=args.database) as database:
        from django.test import Client
        from django.utils import timezone
        from rest_framework.test import APIClient

        from operations import figures, uptime
        from stations.models import ChargePoint, Site, StatusEvent
        from users.models import User

        print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at start")
        print(f"database: {database}")
        if "reused" in database:
            chargers, rows = ChargePoint.objects.count(), StatusEvent.objects.count()
            print(f"data:      {chargers} chargers, {rows:,} status rows (built before)")
            User.objects.filter(email="bench@example.com").delete()
        else:
            (chargers, rows), seconds = timed(
                build, args.connectors, args.days, args.per_day, postgres
            )
            print(
                f"data:      {chargers} chargers, {chargers * PORTS} ports, {rows:,} status "
                f"rows over {args.days} days in {seconds:.1f} s"
            )

        now = timezone.now()
        year = uptime.months_between(now - timedelta(days=366), now)
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
        stored, seconds = timed(figures.refresh, year, now=now)
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        print(f"recompute: last 12 months: {stored:,} port-months in {seconds:.1f} s")
        recent = uptime.months_between(now - timedelta(days=31), now)
        stored, seconds = timed(figures.refresh, recent, now=now)
        print(f"recompute: this and last month: {stored:,} port-months in {seconds:.1f} s")

        staff = User.objects.create_superuser("bench@example.com", "pw")
        client = Client()
        client.force_login(staff)
        site = Site.objects.order_by("pk").first()
        charge_point = ChargePoint.objects.order_by("pk").first()
        report = "/admin/operations/uptimemonth/"
        # A fresh process's first load of the page pays for imports and compiling its
        # templates, once per process: a month before the history, not cached.
        client.get(report, {"month": (now - timedelta(days=400)).strftime("%Y-%m")})
        _, seconds = timed(figures.warm_network_report)
        print(f"warm:      the network report after the refresh (the beat task) in {seconds:.2f} s")
        for label, url in (
            ("network", report),
            ("one site", f"{report}?site={site.pk}"),
            ("one charger", f"{report}?charge_point={charge_point.charge_point_id}"),
            ("outage list", f"{report}outages/"),
        ):
            first, ms, cpu = median_ms(client, url, args.loads)
            print(
                f"report:    {label:<12} first {first:7.1f} ms, then median {ms:7.1f} ms "
                f"(CPU {cpu:5.1f} ms) of {args.loads}"
            )

        api = APIClient()
        api.force_authenticate(staff)
        for label, url in (
            ("one site", f"/api/v1/uptime/?site={site.pk}"),
            ("one charger", f"/api/v1/uptime/?charge_point={charge_point.charge_point_id}"),
        ):
            first, ms, cpu = median_ms(api, url, args.loads)
            print(
                f"api:       {label:<12} first {first:7.1f} ms, then median {ms:7.1f} ms "
                f"(CPU {cpu:5.1f} ms) of {args.loads}"
            )
        print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes count)")


if __name__ == "__main__":
    main()
