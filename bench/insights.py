"""Insights benchmark: a generated history (insights/history.py) of about 100,000
sessions and 1,000,000 meter samples; the roll-up into the summary tables, a roll-up of
one new day (what the beat task does), the full rebuild (`rebuild_insights`), and each
dashboard page in admin (first load and the median of --loads after it); then the
demand forecast's weekly retrain, the daily maintenance assessment and their pages.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub \\
        .venv/bin/python bench/insights.py                      # full size, PostgreSQL
    .venv/bin/python bench/insights.py --sites 3 --days 28     # small, SQLite

Builds its data in a throwaway database (bench/scratch_database.py: with DATABASE_URL a
fresh `chargehub_bench_insights_<pid>` on that server, dropped afterwards; else SQLite in
a temporary directory). The defaults: 28 sites of 6 chargers (2 connectors each) over 109
days, 6 sample instants per session (energy and power: 12 rows) ≈ 100,000 sessions and
1,200,000 samples (91 days gave 83,658 and 1,003,896). Prints the load average beside
the figures: the machine is shared.

The full size takes long to generate, so it can be kept and timed again later:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/insights.py --database chargehub_bench_insights
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/insights.py --database chargehub_bench_insights --only-time

`--database NAME` keeps the data in that PostgreSQL database; when it exists, its history
is reused as it is (the sizes are then ignored) and only what an interrupted run left
undone is finished (the roll-up, the forecast, the risks). `--only-time` times just the
pages, on the data as stored. Drop the database to generate afresh.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from scratch_database import scratch_database

PAGES = ["utilisation", "chargers", "patterns", "revenue", "drivers"]


def timed(label: str, work, *args, **kwargs):
    started, started_cpu = time.perf_counter(), time.process_time()
    result = work(*args, **kwargs)
    wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    print(f"{label}: {wall:.1f} s (CPU in this process {cpu:.1f} s)", flush=True)
    return result


def time_pages(client, label: str, urls: list[tuple[str, str]], loads: int, query=None) -> None:
    """Each page's first load and the median of `loads` after it, with the CPU time spent
    in this process (the rest is the database, and waiting for a core)."""
    for name, url in urls:
        times, cpu = [], []
        for _ in range(loads + 1):
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(url, query)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert response.status_code == 200, response.status_code
        print(
            f"{label} {name}: first {times[0]:.0f} ms, "
            f"median {statistics.median(times[1:]):.0f} ms "
            f"(CPU {statistics.median(cpu[1:]):.0f} ms)",
            flush=True,
        )


def remake_changed_tables(models: list) -> list:
    """Drop and create again the tables of `models` (figures the bench computes again:
    summaries and decisions) whose columns differ from their model's, as a reused
    database built by older code may have them; returns those made again (empty)."""
    from django.db import connection

    changed = []
    with connection.cursor() as cursor:
        for model in models:
            description = connection.introspection.get_table_description(
                cursor, model._meta.db_table
            )
            wanted = {field.column for field in model._meta.local_concrete_fields}
            if {column.name for column in description} != wanted:
                changed.append(model)
    with connection.schema_editor() as editor:
        for model in changed:
            editor.delete_model(model)
            editor.create_model(model)
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=28)
    parser.add_argument("--chargers-per-site", type=int, default=6)
    parser.add_argument("--days", type=int, default=109)
    parser.add_argument("--drivers", type=int, default=8000)
    parser.add_argument(
        "--samples", type=int, default=6, help="instants per session, +1 at the stop"
    )
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument(
        "--database",
        help="PostgreSQL: keep the data in this database, and when it exists reuse its "
        "history (the sizes are then ignored)",
    )
    parser.add_argument(
        "--only-time",
        action="store_true",
        help="time the pages only, on the data as stored (with --database, once built)",
    )
    args = parser.parse_args()
    # The test Client speaks plain HTTP to admin, with no second factor to show.
    os.environ.update(SECURE_SSL_REDIRECT="0", ADMIN_REQUIRE_MFA="0")
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start",
        flush=True,
    )
    with scratch_database("insights", database=args.database) as where:
        from django.db.models import Max, Min
        from django.test import Client
        from django.utils.timezone import localdate

        from billing.models import SessionCharge
        from insights import forecasting, history, maintenance_data, rollup
        from insights.models import (
            ChargerRisk,
            ConnectorHour,
            DriverMonth,
            HourForecast,
            SessionMix,
            SiteDay,
            SiteForecast,
        )
        from stations.models import ChargingSession, MeterSample
        from users.models import User

        print(f"database: {where}")
        summaries = [ConnectorHour, SiteDay, DriverMonth, SessionMix]
        decisions = [SiteForecast, HourForecast, ChargerRisk]
        # A reused database keeps its history (written in one transaction: all or none).
        stored_end = ChargingSession.objects.aggregate(last=Max("stopped_at"))["last"]
        if stored_end is None and args.only_time:
            raise SystemExit("No history to time: run once without --only-time to build it.")
        if stored_end is None:
            end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            size = history.HistorySize(
                sites=args.sites,
                chargers_per_site=args.chargers_per_site,
                days=args.days,
                drivers=args.drivers,
                samples_per_session=args.samples,
            )
            made = timed("generate the history", history.generate, 1, size, end - timedelta(days=1))
            print(f"  {made.counts}")
        # The pages are asked for the whole history, built now or before (local days).
        span = ChargingSession.objects.aggregate(first=Min("started_at"), last=Max("stopped_at"))
        first_day, last_day = localdate(span["first"]), localdate(span["last"])
        end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), UTC)
        days = (last_day - first_day).days + 1
        print(
            f"  rows: {ChargingSession.objects.count():,} sessions, "
            f"{MeterSample.objects.count():,} meter samples over {days} days",
            flush=True,
        )
        if stored_end is None:
            # The last day comes later, as the beat task would find it.
            last_day = SessionCharge.objects.filter(
                session__started_at__gte=end - timedelta(days=2)
            )
            held_back = list(last_day.values_list("pk", flat=True))
            first_ids = SessionCharge.objects.exclude(pk__in=held_back).count()
            timed(
                f"roll up {first_ids:,} priced sessions (empty summaries)",
                rollup.roll_up,
                first_ids,
            )
            timed(
                f"roll up {len(held_back):,} new ones (two days: the beat task's work)",
                rollup.roll_up,
            )
        reshaped = remake_changed_tables(summaries + decisions)
        if reshaped:
            names = ", ".join(model.__name__ for model in reshaped)
            print(f"  tables made again (their shape changed since the data was built): {names}")
        if stored_end is None or not args.only_time or set(reshaped) & set(summaries):
            timed("rebuild_insights (everything again)", rollup.rebuild)
        else:
            # What an interrupted run left: the roll-up continues from its mark.
            timed("roll up what is not yet in the summaries", rollup.roll_up)
        print(
            f"  summaries: {ConnectorHour.objects.count():,} connector hours, "
            f"{SiteDay.objects.count():,} site days, "
            f"{DriverMonth.objects.count():,} driver months, "
            f"{SessionMix.objects.count():,} session mixes"
        )
        # Decisions (insights/forecasting.py, maintenance_data.py): the weekly and daily
        # beat tasks on this history; their pages read what they stored.
        if not args.only_time or not SiteForecast.objects.exists():
            timed(
                "retrain the demand forecast (every site: the weekly task)",
                forecasting.retrain,
                end,
            )
        if not args.only_time or not ChargerRisk.objects.exists():
            timed(
                "assess maintenance risks (every charger: the daily task)",
                maintenance_data.assess_all,
                end.date(),
            )
        User.objects.filter(email="bench@example.com").delete()
        admin = User.objects.create_superuser("bench@example.com", "pw")
        client = Client()
        client.force_login(admin)
        query = {"start": first_day, "end": last_day}
        dashboards = [(page, f"/admin/insights/dashboard/{page}/") for page in PAGES]
        time_pages(client, f"dashboard ({days} days, whole network)", dashboards, args.loads, query)
        decisions = [
            (page, f"/admin/insights/{page}/")
            for page in ("siteforecast", "chargerrisk", "candidatelocation")
        ]
        time_pages(client, "decision page", decisions, args.loads)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
