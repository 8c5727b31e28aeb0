"""The pages that read the two biggest tables, timed with 50 M message-log rows and 20 M
meter samples (#17 "Tables that stay fast": under 50 ms each).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub_7 \\
        .venv/bin/python bench/big_tables.py --database chargehub_bench_big
    (same) --only-time      # time again on the kept database, without building

The database is kept (bench/scratch_database.py) and its schema made by the migrations,
so that both tables are partitioned by month as in production (stations/partitions.py).
The first run builds the data with PostgreSQL itself (INSERT … SELECT over
generate_series, one statement per day in time order, as a live log is written;
synchronous_commit off; the indexes and keys of both tables are dropped during the load
and built again afterwards, then VACUUM ANALYZE as autovacuum would):

- --chargers chargers at one site, over --months calendar months up to now;
- sessions of --session-minutes on connector 1 at even intervals, so many that their
  MeterValues (every --sample-interval seconds, four values each: energy register,
  power, current, voltage) make --samples samples; one driver's card is on 1 % of them;
- every MeterValues logged as its CALL (a real 1.6 frame) and CALLRESULT, each session's
  StatusNotifications, Start- and StopTransaction, a weekly BootNotification per charger,
  and heartbeats at the interval that brings the log to --messages rows.

Then it times with the Django test client, as a superuser (the driver for the driver's
pages), each page's first load and the median of --loads more (wall time), the mean CPU time
of those loads in this process (Python) and in the PostgreSQL backend serving it (/proc,
same machine; the machine may be busy, CPU time is what a quiet one would add up),
the number of SQL queries and the slowest of them. A page with a statement over
--timeout seconds is reported as cancelled (before #17's fixes the log's searches
and the samples' list took over 20 s).

The pages' own cost (Django's: templates, forms, admin) does not grow with the tables; a
small database shows it, built in under a minute (1.1 GB; docs/performance.md):

    (same) --database chargehub_bench_small --chargers 100 --months 3 \\
        --samples 1000000 --messages 2500000
"""

import argparse
import logging
import os
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from partitions import METER_VALUES_CALL
from scratch_database import scratch_database

DRIVER_EMAIL = "driver@bench.example"
DRIVER_TAG = "BENCHDRIVER"
# The charger whose pages are timed (one of the driver's: id % 100 == 0); with fewer
# chargers, the driver's last (then the last charger is the driver's).
CHARGER = "CP-01000"
# A marker table: the build finished (a half-built database is not timed).
MARKER = "bench_big_tables_built"

SESSIONS = """
    INSERT INTO stations_chargingsession (charge_point_id, connector_id, id_tag, id_token_id,
        status, started_at, meter_start_wh, stopped_at, meter_stop_wh, energy_wh,
        stop_reason, stop_id_tag, closed_by, clock_suspect, created_at, updated_at)
    SELECT cp.id, c.id, CASE WHEN cp.id %% %(every)s = 0 THEN %(tag)s ELSE 'TAG' || cp.id END,
        CASE WHEN cp.id %% %(every)s = 0 THEN %(token)s END, 'completed', s.at, s.n * 100000,
        s.at + %(minutes)s * interval '1 minute', s.n * 100000 + %(minutes)s * 183,
        %(minutes)s * 183, 'Local', '', 'charger', false, s.at, s.at
    FROM stations_chargepoint cp
    JOIN stations_connector c ON c.charge_point_id = cp.id AND c.connector_id = 1
    CROSS JOIN LATERAL (
        SELECT n, to_timestamp(%(start)s + (cp.id * 7919) %% %(step)s + n * %(step)s) AS at
        FROM generate_series(0, %(count)s - 1) n WHERE cp.id > 0
    ) s
    ORDER BY s.at
"""
# One day's calls by the chargers (time, charger, action, CALL, CALLRESULT), in SQL.
DAY_CALLS = """
    SELECT to_timestamp(e) AS at, cp.charge_point_id, 'Heartbeat' AS action,
        '[2,"ID","Heartbeat",{}]' AS call, '[3,"ID",{"currentTime":"2026-11-14T10:21:00Z"}]'
    FROM stations_chargepoint cp,
    LATERAL generate_series(
        %(start)s + (cp.id * 7919) %% %(beat)s
            + ceil(greatest(%(day)s - %(start)s - (cp.id * 7919) %% %(beat)s, 0)::numeric
                   / %(beat)s)
              * %(beat)s,
        %(day)s + 86399.999, %(beat)s) e
    UNION ALL
    SELECT to_timestamp(e), cp.charge_point_id, 'BootNotification',
        '[2,"ID","BootNotification",{"chargePointVendor":"Bench","chargePointModel":"B1"}]',
        '[3,"ID",{"status":"Accepted","currentTime":"2026-11-14T10:21:00Z","interval":300}]'
    FROM stations_chargepoint cp,
    LATERAL generate_series(
        %(start)s + (cp.id * 104729) %% 604800
            + ceil(greatest(%(day)s - %(start)s - (cp.id * 104729) %% 604800, 0)::numeric
                   / 604800)
              * 604800,
        %(day)s + 86399.999, 604800) e
    UNION ALL
    SELECT s.started_at + m * %(interval)s * interval '1 second', cp.charge_point_id,
        'MeterValues', %(meter_values)s, '[3,"ID",{}]'
    FROM day_sessions s JOIN stations_chargepoint cp ON cp.id = s.charge_point_id,
    LATERAL generate_series(1, %(per_session)s) m
    UNION ALL
    SELECT s.started_at + f.delay, cp.charge_point_id, f.action, f.call, f.answer
    FROM day_sessions s JOIN stations_chargepoint cp ON cp.id = s.charge_point_id
    CROSS JOIN (VALUES
        (interval '-20 s', 'StatusNotification',
         '[2,"ID","StatusNotification",{"connectorId":1,"status":"Preparing","errorCode":"NoError"}]',
         '[3,"ID",{}]'),
        (interval '0 s', 'StartTransaction',
         '[2,"ID","StartTransaction",{"connectorId":1,"idTag":"TAG","meterStart":0,"timestamp":"2026-11-14T10:21:00Z"}]',
         '[3,"ID",{"transactionId":4711,"idTagInfo":{"status":"Accepted"}}]'),
        (interval '1 s', 'StatusNotification',
         '[2,"ID","StatusNotification",{"connectorId":1,"status":"Charging","errorCode":"NoError"}]',
         '[3,"ID",{}]'),
        (%(minutes)s * interval '1 minute', 'StopTransaction',
         '[2,"ID","StopTransaction",{"transactionId":4711,"meterStop":16470,"timestamp":"2026-11-14T10:21:00Z"}]',
         '[3,"ID",{"idTagInfo":{"status":"Accepted"}}]'),
        (%(minutes)s * interval '1 minute' + interval '1 s', 'StatusNotification',
         '[2,"ID","StatusNotification",{"connectorId":1,"status":"Available","errorCode":"NoError"}]',
         '[3,"ID",{}]')
    ) f(delay, action, call, answer)
"""
DAY_MESSAGES = f"""
    WITH day_sessions AS (
        SELECT id, charge_point_id, started_at FROM stations_chargingsession
        WHERE started_at >= to_timestamp(%(day)s) AND started_at < to_timestamp(%(day)s + 86400)
    ), calls(at, charge_point_id, action, call, answer) AS ({DAY_CALLS})
    INSERT INTO stations_ocppmessage (charge_point_id, direction, message_type, unique_id,
        action, frame, created_at)
    SELECT c.charge_point_id, d.direction, d.type, u.id, c.action,
        replace(CASE WHEN d.type = 2 THEN c.call ELSE c.answer END, 'ID', u.id), c.at + d.delay
    FROM calls c
    CROSS JOIN LATERAL (SELECT md5(c.charge_point_id || c.action || c.at::text) AS id) u
    CROSS JOIN (VALUES ('in', 2, interval '0'), ('out', 3, interval '20 ms'))
        d(direction, type, delay)
    WHERE c.at < to_timestamp(%(end)s)
    ORDER BY c.at + d.delay
"""
DAY_SAMPLES = """
    INSERT INTO stations_metersample (charge_point_id, connector_id, session_id, timestamp,
        measurand, phase, location, context, format, unit, value, value_decimal,
        clock_suspect, received_at)
    SELECT s.charge_point_id, 1, s.id, t.at, v.measurand, '', '', 'Sample.Periodic', 'Raw',
        v.unit, v.value, v.value::numeric, false, t.at + interval '30 ms'
    FROM stations_chargingsession s,
    LATERAL (
        SELECT s.started_at + m * %(interval)s * interval '1 second' AS at,
            s.meter_start_wh + m * %(interval)s * 183 / 60 AS wh
        FROM generate_series(1, %(per_session)s) m
    ) t,
    LATERAL (VALUES ('Energy.Active.Import.Register', 'Wh', t.wh::text),
                    ('Power.Active.Import', 'W', '10980'), ('Current.Import', 'A', '15.8'),
                    ('Voltage', 'V', '229.6')) v(measurand, unit, value)
    WHERE s.started_at >= to_timestamp(%(day)s) AND s.started_at < to_timestamp(%(day)s + 86400)
    ORDER BY t.at
"""


def table_keys(cursor, table: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The partitioned table's primary and unique keys (name, definition) and its other
    indexes (CREATE INDEX statements), as they are on the parent."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY contype",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = %s AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        [table],
    )
    return constraints, cursor.fetchall()


def build(args: argparse.Namespace) -> None:
    """Chargers, sessions, samples and the message log, made by PostgreSQL."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from stations import partitions
    from stations.models import ChargePoint, Connector, Site
    from users.models import IdToken

    now = timezone.now().replace(second=0, microsecond=0)
    first = partitions.Month.of(now).add(1 - args.months)
    for table in partitions.PARTITIONED:
        existing = set(partitions.months(table))
        for n in range(args.months):
            if first.add(n) not in existing:
                partitions.create_month(table, first.add(n))
    get_user_model().objects.create_superuser("staff@bench.example", "bench")
    driver = get_user_model().objects.create_user(DRIVER_EMAIL, "bench")
    token = IdToken.objects.create(uid=DRIVER_TAG, owner=driver)
    site = Site.objects.create(name="Big tables", time_zone="Europe/Stockholm")
    ChargePoint.objects.bulk_create(
        ChargePoint(
            charge_point_id=f"CP-{n:05d}",
            site=site,
            registration_status=ChargePoint.Registration.ACCEPTED,
        )
        for n in range(1, args.chargers + 1)
    )
    Connector.objects.bulk_create(
        Connector(charge_point=charge_point, connector_id=n)
        for charge_point in ChargePoint.objects.all()
        for n in (0, 1, 2)
    )
    start, end = int(first.start.timestamp()), int(now.timestamp())
    per_session = args.session_minutes * 60 // args.sample_interval
    sessions_per_charger = -(-args.samples // (4 * per_session * args.chargers))
    step = int((end - start - 86400) // sessions_per_charger)
    calls_per_session = per_session + 5
    boots = args.chargers * (end - start) / 604800
    beats = args.messages / 2 - args.chargers * sessions_per_charger * calls_per_session - boots
    beat = round(args.chargers * (end - start) / beats)
    print(
        f"plan: {args.chargers} chargers, {first.start:%Y-%m} to {now:%Y-%m-%d}, "
        f"{sessions_per_charger} sessions each of {args.session_minutes} min "
        f"(one every {step / 86400:.1f} days), heartbeat every {beat:.0f} s",
        flush=True,
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET work_mem = '256MB'")  # each day's rows sorted in memory
        cursor.execute(
            SESSIONS,
            {
                "tag": DRIVER_TAG,
                "token": token.pk,
                "every": min(100, args.chargers),
                "minutes": args.session_minutes,
                "start": start,
                "step": step,
                "count": sessions_per_charger,
            },
        )
        keys = {table: table_keys(cursor, table) for table in partitions.PARTITIONED}
        for table, (constraints, indexes) in keys.items():
            for name, _definition in constraints:
                cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            for name, _definition in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
        # The foreign keys' checks (their triggers) are skipped: the rows are made valid.
        cursor.execute("SET session_replication_role = replica")
        params = {
            "start": start,
            "end": end,
            "beat": beat,
            "interval": args.sample_interval,
            "per_session": per_session,
            "minutes": args.session_minutes,
            "meter_values": METER_VALUES_CALL,
        }
        day = start
        while day < end:
            cursor.execute(DAY_MESSAGES, params | {"day": day})
            cursor.execute(DAY_SAMPLES, params | {"day": day})
            day += 86400
            if int((day - start) // 86400) % 30 == 0:
                print(
                    f"  {datetime.fromtimestamp(day, UTC):%Y-%m-%d} after "
                    f"{time.perf_counter() - started:.0f} s",
                    flush=True,
                )
        cursor.execute("SET session_replication_role = DEFAULT")
        loaded = time.perf_counter()
        for table, (constraints, indexes) in keys.items():
            for name, definition in constraints:
                cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
            for _name, definition in indexes:
                cursor.execute(definition.replace(" ON ONLY ", " ON "))  # and its partitions
        indexed = time.perf_counter()
        for table in partitions.PARTITIONED:
            cursor.execute(f'VACUUM ANALYZE "{table}"')
        cursor.execute("VACUUM ANALYZE stations_chargingsession")
        cursor.execute(f"CREATE TABLE {MARKER} (built_at timestamptz, seconds float)")
        total = time.perf_counter() - started
        cursor.execute(f"INSERT INTO {MARKER} VALUES (now(), %s)", [total])
    print(
        f"built in {total:.0f} s: rows {loaded - started:.0f} s, keys and indexes "
        f"{indexed - loaded:.0f} s, VACUUM ANALYZE {total - (indexed - started):.0f} s",
        flush=True,
    )


@dataclass
class Timing:
    first_ms: float
    median_ms: float
    cpu_ms: float  # mean, this process
    db_cpu_ms: float  # mean, the PostgreSQL backend (its clock ticks are 10 ms)
    queries: int
    slowest_ms: float
    slowest_sql: str
    status: int


def backend_cpu_ms(pid: int) -> float:
    """The PostgreSQL backend's user + system CPU time so far (it runs on this machine)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def time_page(client, url: str, loads: int) -> Timing:
    from django.db import OperationalError, connection
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    walls, cpus, db_cpus = [], [], []
    for _ in range(loads + 1):
        db_before, cpu_before, wall_before = backend_cpu_ms(pid), time.process_time(), 0.0
        with CaptureQueriesContext(connection) as queries:
            wall_before = time.perf_counter()
            try:
                response = client.get(url, secure=True)  # DEBUG off: HTTPS only
            except OperationalError:  # over --timeout: the query was cancelled
                return Timing(*[float("nan")] * 4, len(queries), float("nan"), "", 0)
            walls.append((time.perf_counter() - wall_before) * 1000)
        cpus.append((time.process_time() - cpu_before) * 1000)
        db_cpus.append(backend_cpu_ms(pid) - db_before)
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]), default=None)
    return Timing(
        first_ms=walls[0],
        median_ms=statistics.median(walls[1:]),
        cpu_ms=statistics.mean(cpus[1:]),
        db_cpu_ms=statistics.mean(db_cpus[1:]),
        queries=len(queries.captured_queries),
        slowest_ms=float(slowest["time"]) * 1000 if slowest else 0.0,
        slowest_sql=" ".join(slowest["sql"].split())[:160] if slowest else "",
        status=response.status_code,
    )


def pages() -> list[tuple[str, str, str]]:
    """(who, what, URL) of every page timed."""
    from django.urls import reverse
    from django.utils.http import urlencode

    from stations.models import ChargePoint, ChargingSession, OcppMessage

    charger = (
        ChargePoint.objects.filter(charge_point_id=CHARGER).first()
        or ChargePoint.objects.filter(sessions__id_tag=DRIVER_TAG).order_by("-pk").first()
    )
    charge_point_id = charger.charge_point_id
    # A session of some weeks ago: not the newest, not in the cache by being new.
    session = list(
        ChargingSession.objects.filter(charge_point=charger).order_by("-started_at")[:3]
    )[-1]
    boot = (
        OcppMessage.objects.filter(
            charge_point_id=charge_point_id,
            action="BootNotification",
            created_at__gte=session.started_at - timedelta(days=8),
            created_at__lt=session.started_at,
        )
        .order_by("-created_at")
        .first()
    ) or OcppMessage.objects.filter(charge_point_id=charge_point_id).order_by("created_at").first()
    log = reverse("admin:stations_ocppmessage_changelist")
    samples = reverse("admin:stations_metersample_changelist")
    day = session.started_at.replace(hour=0, minute=0, second=0, microsecond=0)
    margin = timedelta(minutes=1)
    return [
        ("staff", "charger page", reverse("admin:stations_chargepoint_change", args=[charger.pk])),
        ("staff", "charger list", reverse("admin:stations_chargepoint_changelist")),
        (
            "staff",
            "session page (chart)",
            reverse("admin:stations_chargingsession_change", args=[session.pk]),
        ),
        ("staff", "session list", reverse("admin:stations_chargingsession_changelist")),
        ("staff", "message log", log),
        ("staff", "message log, page 50", log + "?p=50"),
        (
            "staff",
            "message log, one charger",
            log + "?" + urlencode({"charge_point_id": charge_point_id}),
        ),
        (
            "staff",
            "message log, one charger, page 50",
            log + "?" + urlencode({"charge_point_id": charge_point_id, "p": 50}),
        ),
        ("staff", "message log, one action", log + "?action=BootNotification"),
        ("staff", "message log, CALLERROR only", log + "?message_type__exact=4"),
        (
            "staff",
            "message log, one day",
            log
            + "?"
            + urlencode(
                {
                    "created_at__gte": day.isoformat(),
                    "created_at__lt": (day + timedelta(days=1)).isoformat(),
                }
            ),
        ),
        (
            "staff",
            "message log, the session's frames (its link)",
            log
            + "?"
            + urlencode(
                {
                    "charge_point_id": charge_point_id,
                    "created_at__gte": (session.started_at - margin).isoformat(),
                    "created_at__lte": (session.stopped_at + margin).isoformat(),
                }
            ),
        ),
        (
            "staff",
            "message log, a call and its answer (its link)",
            log
            + "?"
            + urlencode({"charge_point_id": charge_point_id, "unique_id": boot.unique_id}),
        ),
        ("staff", "message log, search a charger", log + "?" + urlencode({"q": charge_point_id})),
        ("staff", "message log, search a message id", log + "?" + urlencode({"q": boot.unique_id})),
        ("staff", "meter samples", samples),
        ("staff", "meter samples, search a session", samples + "?" + urlencode({"q": session.pk})),
        ("staff", "API session", reverse("api:session-detail", args=[session.pk])),
        (
            "staff",
            "API sessions of a charger",
            reverse("api:session-list") + "?" + urlencode({"charge_point": charge_point_id}),
        ),
        ("driver", "portal session page", reverse("portal:session", args=[session.pk])),
        ("driver", "portal session figures", reverse("portal:session-figures", args=[session.pk])),
        ("driver", "API my session", reverse("api:my-session-detail", args=[session.pk])),
    ]


def time_all(args: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    # A page over --timeout is reported in the table, not by a traceback.
    logging.getLogger("django.request").setLevel(logging.CRITICAL)
    clients = {"staff": Client(), "driver": Client()}
    users = get_user_model().objects
    clients["staff"].force_login(users.get(email="staff@bench.example"))
    clients["driver"].force_login(users.get(email=DRIVER_EMAIL))
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = '{args.timeout}s'")
        cursor.execute(
            "SELECT (SELECT reltuples FROM pg_class WHERE oid = 'stations_ocppmessage'::regclass),"
            " (SELECT sum(reltuples) FROM pg_class c JOIN pg_inherits i ON c.oid = i.inhrelid"
            "  WHERE i.inhparent = 'stations_ocppmessage'::regclass),"
            " (SELECT sum(reltuples) FROM pg_class c JOIN pg_inherits i ON c.oid = i.inhrelid"
            "  WHERE i.inhparent = 'stations_metersample'::regclass),"
            " (SELECT count(*) FROM stations_chargingsession),"
            " pg_database_size(current_database())"
        )
        _, messages, samples, sessions, size = cursor.fetchone()
    print(
        f"data: {messages / 1e6:.1f} M messages, {samples / 1e6:.1f} M samples, "
        f"{sessions:,} sessions (estimated rows); database {size / 1024**3:.1f} GB"
    )
    print(f"load average {os.getloadavg()[0]:.1f} before timing; --loads {args.loads}")
    print()
    print(
        "| page | who | first load ms | median ms | CPU ms (Python) | CPU ms (PostgreSQL)"
        " | queries | slowest query ms | slowest query |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for who, what, url in pages():
        timing = time_page(clients[who], url, args.loads)
        flag = "" if timing.status == 200 else f" (HTTP {timing.status})"
        if timing.status == 0:
            flag = f" (a query over --timeout {args.timeout} s: cancelled)"
        print(
            f"| {what}{flag} | {who} | {timing.first_ms:.1f} | {timing.median_ms:.1f} | "
            f"{timing.cpu_ms:.1f} | {timing.db_cpu_ms:.1f} | {timing.queries} | "
            f"{timing.slowest_ms:.1f} | `{timing.slowest_sql}` |",
            flush=True,
        )
    print(f"\nload average {os.getloadavg()[0]:.1f} after timing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="chargehub_bench_big", help="kept and reused")
    parser.add_argument("--chargers", type=int, default=2000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--messages", type=int, default=50_000_000)
    parser.add_argument("--samples", type=int, default=20_000_000)
    parser.add_argument("--session-minutes", type=int, default=90)
    parser.add_argument("--sample-interval", type=int, default=60, help="seconds")
    parser.add_argument("--loads", type=int, default=5, help="timed loads after the first")
    parser.add_argument("--only-time", action="store_true", help="never build")
    parser.add_argument("--timeout", type=int, default=20, help="seconds a query may take")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("The tables are partitioned on PostgreSQL only: set DATABASE_URL.")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    # Staff log in by force_login: no second factor (its rule has its own tests).
    os.environ.update(ADMIN_REQUIRE_MFA="0")
    with scratch_database("big_tables", database=args.database, migrate=True) as database:
        from django.db import connection

        print(f"database: {database}", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [MARKER])
            (built,) = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM stations_chargepoint")
            (chargers,) = cursor.fetchone()
        if not built:
            if args.only_time or chargers:
                raise SystemExit(f"{args.database} is not built (or half built): drop it first.")
            build(args)
        time_all(args)


if __name__ == "__main__":
    main()
