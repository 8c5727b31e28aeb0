"""Sizing of the partitioned message log and meter samples: one generated month on
PostgreSQL, measured, and scaled to 1,000 chargers and a year.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub \\
        .venv/bin/python bench/partitions.py --chargers 100

A fresh database (bench/scratch_database.py), partitioned as migration stations 0019 does
(stations/partitions.py). Last month is filled for --chargers chargers by PostgreSQL
itself (INSERT … SELECT over generate_series), at typical intervals:

- every charger heartbeats every --heartbeat seconds (the CALL and its CALLRESULT logged);
- it charges --charging-share of the time, sending MeterValues every --sample-interval
  seconds with four sampled values (energy register, power, current, voltage), each a
  MeterSample row; the frame (as long as a real 1.6 one) and its answer are logged.

Then it prints rows per charger per day, bytes per row (pg_column_size of the rows, and
the month's partition with its indexes by pg_total_relation_size), and per 1,000
chargers the rows and disk per day and per year, with and without retention; and the
time and partitions read by a day's message-log query of one charger.
"""

import argparse
import os
import re
import time

from scratch_database import scratch_database

GB = 1024**3
METER_VALUES_CALL = (
    '[2,"ID","MeterValues",{"connectorId":1,"transactionId":4711,"meterValue":'
    '[{"timestamp":"2026-11-14T10:21:00.000Z","sampledValue":['
    '{"value":"123456","context":"Sample.Periodic","measurand":'
    '"Energy.Active.Import.Register","unit":"Wh"},'
    '{"value":"10876","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},'
    '{"value":"15.8","context":"Sample.Periodic","measurand":"Current.Import","unit":"A"},'
    '{"value":"229.6","context":"Sample.Periodic","measurand":"Voltage","unit":"V"}]}]}]'
)
# Each slot: the charger's CALL and the server's answer 20 ms later.
FRAMES = """
    INSERT INTO stations_ocppmessage (charge_point_id, direction, message_type, unique_id,
        action, frame, created_at)
    SELECT cp.charge_point_id, d.direction, d.type, md5(cp.id || %(action)s || t::text),
        %(action)s,
        CASE WHEN d.type = 2 THEN replace(%(call)s, 'ID', md5(cp.id || %(action)s || t::text))
             ELSE replace(%(answer)s, 'ID', md5(cp.id || %(action)s || t::text)) END,
        t + d.delay
    FROM stations_chargepoint cp
    CROSS JOIN generate_series(%(start)s, %(end)s - interval '1 second',
                               %(step)s * interval '1 second') t
    CROSS JOIN (VALUES ('in', 2, interval '0'), ('out', 3, interval '20 ms'))
        d(direction, type, delay)
    WHERE %(charging)s OR NOT %(only_charging)s
"""
SAMPLES = """
    INSERT INTO stations_metersample (charge_point_id, connector_id, session_id, timestamp,
        measurand, phase, location, context, format, unit, value, value_decimal,
        clock_suspect, received_at)
    SELECT cp.id, 1, s.id, t, v.measurand, '', '', 'Sample.Periodic', 'Raw', v.unit, v.value,
        v.value::numeric, false, t + interval '30 ms'
    FROM stations_chargepoint cp
    JOIN stations_chargingsession s ON s.charge_point_id = cp.id
    CROSS JOIN generate_series(%(start)s, %(end)s - interval '1 second',
                               %(step)s * interval '1 second') t
    CROSS JOIN (VALUES ('Energy.Active.Import.Register', 'Wh', '123456'),
                       ('Power.Active.Import', 'W', '10876'), ('Current.Import', 'A', '15.8'),
                       ('Voltage', 'V', '229.6')) v(measurand, unit, value)
    WHERE %(charging)s
"""


def build(chargers: int, args: argparse.Namespace):
    """Last month for `chargers` chargers, one open session each; returns the month."""
    from django.db import connection
    from django.utils import timezone

    from stations import partitions
    from stations.models import ChargePoint, ChargingSession, Connector, Site

    site = Site.objects.create(name="Sizing", time_zone="Europe/Stockholm")
    ChargePoint.objects.bulk_create(
        ChargePoint(charge_point_id=f"CP-{n:05d}", site=site) for n in range(chargers)
    )
    for charge_point in ChargePoint.objects.all():
        connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
        ChargingSession.objects.create(
            charge_point=charge_point,
            connector=connector,
            id_tag="TAG",
            started_at=timezone.now(),
            meter_start_wh=0,
        )
    month = partitions.Month.of(timezone.now()).add(-1)
    for table in partitions.PARTITIONED:
        if month not in partitions.months(table):
            partitions.create_month(table, month)
    # A charger charges in the minutes where this holds: --charging-share of the time.
    share = int(args.charging_share * 100)
    charging = f"(extract(epoch from t)::bigint / 60 + cp.id * 37) %% 100 < {share}"
    span = {"start": month.start, "end": month.end}
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        heartbeat = {"call": '[2,"ID","Heartbeat",{}]', "answer": ""}
        heartbeat["answer"] = '[3,"ID",{"currentTime":"2026-11-14T10:21:00.000Z"}]'
        cursor.execute(
            FRAMES.replace("%(charging)s", charging),
            span
            | heartbeat
            | {"action": "Heartbeat", "step": args.heartbeat, "only_charging": False},
        )
        cursor.execute(
            FRAMES.replace("%(charging)s", charging),
            span
            | {"call": METER_VALUES_CALL, "answer": '[3,"ID",{}]'}
            | {"action": "MeterValues", "step": args.sample_interval, "only_charging": True},
        )
        cursor.execute(
            SAMPLES.replace("%(charging)s", charging), span | {"step": args.sample_interval}
        )
        for table in partitions.PARTITIONED:
            cursor.execute(f'VACUUM ANALYZE "{month.name(table)}"')
    return month


def measure(partition: str) -> tuple[int, float, float, float]:
    """Rows, mean bytes per row (pg_column_size), total bytes per row (heap, TOAST and
    indexes: pg_total_relation_size) and the indexes' share of one month's partition."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT count(*), avg(pg_column_size(t.*)) FROM "{partition}" t',
        )
        rows, column_bytes = cursor.fetchone()
        cursor.execute(
            "SELECT pg_total_relation_size(%s), pg_indexes_size(%s)", [partition, partition]
        )
        total, indexes = cursor.fetchone()
    return rows, float(column_bytes), total / rows, indexes / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--heartbeat", type=int, default=300, help="seconds")
    parser.add_argument("--sample-interval", type=int, default=60, help="seconds")
    parser.add_argument("--charging-share", type=float, default=0.3, help="of the time")
    parser.add_argument("--log-days", type=int, default=30, help="OCPP_MESSAGE_LOG_DAYS")
    parser.add_argument("--sample-days", type=int, default=400, help="METER_SAMPLE_RETENTION_DAYS")
    parser.add_argument("--database", help="PostgreSQL: keep the data in this database")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Partitioning is PostgreSQL's: set DATABASE_URL.")
    load = os.getloadavg()[0]

    with scratch_database("partitions", database=args.database) as database:
        from django.db import connection

        from stations import partitions
        from stations.models import OcppMessage

        if not partitions.enabled():
            with connection.schema_editor() as schema_editor:
                for table in partitions.PARTITIONED:
                    partitions.partition_table(schema_editor, table)
        print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at start")
        print(f"database: {database}")
        started = time.perf_counter()
        month = build(args.chargers, args)
        days = (month.end - month.start).days
        print(
            f"data: {args.chargers} chargers, {month.start:%B %Y} ({days} days), "
            f"heartbeat {args.heartbeat} s, MeterValues every {args.sample_interval} s with "
            f"4 values while charging ({args.charging_share:.0%} of the time), "
            f"built in {time.perf_counter() - started:.0f} s"
        )
        print()
        print(
            "| table | rows/charger/day | bytes/row (pg_column_size) | bytes/row with "
            "indexes | rows/day per 1,000 chargers | GB/day per 1,000 | kept forever: GB "
            "more each year per 1,000 | with retention: GB held per 1,000 |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for table, keep in (
            ("stations_ocppmessage", args.log_days),
            ("stations_metersample", args.sample_days),
        ):
            rows, column_bytes, total_bytes, index_share = measure(month.name(table))
            per_day = rows / args.chargers / days
            day_gb = per_day * 1000 * total_bytes / GB
            print(
                f"| {table} | {per_day:,.0f} | {column_bytes:.0f} | {total_bytes:.0f} "
                f"({index_share:.0%} indexes) | "
                f"{per_day * 1000:,.0f} | {day_gb:.2f} | {day_gb * 365:,.0f} | "
                f"{day_gb * (keep + 31):,.0f} ({keep} days + up to a month) |"
            )
        print()
        # The message-log page of one charger for one day: reads that day's month only.
        day = month.start.replace(day=15)
        query = OcppMessage.objects.filter(
            charge_point_id="CP-00042", created_at__gte=day, created_at__lt=day.replace(day=16)
        ).order_by("-created_at", "-id")[:100]
        plan = query.explain()
        started = time.perf_counter()
        found = len(list(query))
        elapsed = (time.perf_counter() - started) * 1000
        scanned = sorted(set(re.findall(r"stations_ocppmessage_(?:y\d{4}m\d\d|default)\b", plan)))
        print(f"one charger's log of one day: {found} rows in {elapsed:.1f} ms")
        print(f"partitions in its plan: {', '.join(scanned)}")


if __name__ == "__main__":
    main()
