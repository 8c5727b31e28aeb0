"""What a consumer's database calls cost: round trips per OCPP call, and the health check.

    .venv/bin/python bench/ocpp_database_calls.py --round-trips          # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub \\
        .venv/bin/python bench/ocpp_database_calls.py --round-trips
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub \\
        .venv/bin/python bench/ocpp_database_calls.py --calls 2000
    .venv/bin/python bench/ocpp_database_calls.py --cpu 30              # add DATABASE_URL

--round-trips drives one charger through a charging session against the real consumer
(in process, on a scratch database) and prints, for its connect and per OCPP call, the
database round trips each cost (the connect's and the boot's include the work started
after them): every statement, and on PostgreSQL the BEGIN and
COMMIT of each transaction (psycopg sends each as a round trip of its own). The message
log is counted apart (one INSERT per batch of frames). The figure does not depend on the
machine's load, so it compares two versions of the code on any machine.

--cpu N drives the same charger through the session after its boot N times (one call at
a time) and prints the process's CPU time per call by action: the consumer, the thread
hop, the handler, the listeners after commit, the reply; the message log's batched
INSERT apart, per frame; on PostgreSQL, its backends' CPU per call (all calls, from
/proc). CPU time, not wall time: on a busy machine it still compares two
versions of the code (run them side by side). The first session warms caches and is
not counted.

--sample-cpu N times a MeterValues call's sample INSERT N times a round, three ways
alternated (time_sample_cpu): this process's and PostgreSQL's backend's CPU per call.

Without either:

Each OCPP frame reaches the database through stations/ocpp/database.py. channels'
database_sync_to_async, with CONN_HEALTH_CHECKS (settings, PostgreSQL), sends a
`SELECT 1` before the first query of every call; run_in_database (PoolDatabaseCall
there) trusts a connection that was fine at the end of the last call. This times --calls
calls of a one-query handler through each, alternating in rounds so both see the same
machine load, on one event loop with --concurrency calls in flight (the thread pool, as
under load). Prints calls/s and the mean and p99 latency of each, the load average, and
the ratio. It needs no tables.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargehub.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="per variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--round-trips", action="store_true", help="count round trips per OCPP call instead"
    )
    parser.add_argument("--show-sql", action="store_true", help="with --round-trips")
    parser.add_argument("--cpu", type=int, metavar="N", help="CPU per call over N sessions")
    parser.add_argument(
        "--listeners",
        type=int,
        metavar="N",
        help="each listener's queries, tasks and CPU per call over N sessions",
    )
    parser.add_argument(
        "--driver",
        action="store_true",
        help="with --listeners: the token has an owner, and the car pauses (SuspendedEV)",
    )
    parser.add_argument(
        "--samples", action="store_true", help="time storing meter samples: bulk_create and store"
    )
    parser.add_argument(
        "--sample-cpu",
        type=int,
        metavar="N",
        help="CPU per MeterValues INSERT (process and backend), N calls per round, alternated",
    )
    args = parser.parse_args()
    if args.round_trips:
        count_round_trips(show_sql=args.show_sql)
        return
    if args.cpu:
        time_cpu_per_call(args.cpu)
        return
    if args.listeners:
        time_listeners(args.listeners, driver=args.driver)
        return
    if args.samples:
        time_sample_writes(args.rounds)
        return
    if args.sample_cpu:
        time_sample_cpu(args.sample_cpu, args.rounds)
        return
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (health checks are its)")

    import django

    django.setup()
    from channels.db import database_sync_to_async
    from django.db import connection

    from stations.ocpp.database import run_in_database

    def handler() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0]

    variants = {
        "database_sync_to_async (health check)": database_sync_to_async(
            handler, thread_sensitive=False
        ),
        "run_in_database (no health check)": run_in_database(handler),
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


def time_sample_writes(rounds: int) -> None:
    """Print the time to store a batch of N meter samples with one INSERT ... ON CONFLICT
    (bulk_create) and with meter_samples.store (a multi-row INSERT of the samples'
    attributes; from its ARRAYS_FROM one INSERT from one array per column), N from 2 to
    5,000. Each batch is new rows, then the same batch again (a
    retransmission: every row skipped)."""
    from bench.scratch_database import scratch_database

    with scratch_database("samples") as database:
        from django.db import connection

        from stations import meter_samples
        from stations.models import ChargePoint, MeterSample

        if connection.vendor != "postgresql":
            raise SystemExit("this compares PostgreSQL's writes: set DATABASE_URL")
        batch = _new_samples(ChargePoint.objects.create(charge_point_id="SAMPLES-1"))
        made = 0

        writers = {
            "INSERT": lambda rows: MeterSample.objects.bulk_create(rows, ignore_conflicts=True),
            "store": meter_samples.store,
        }
        print(f"{database}, load average {os.getloadavg()[0]:.1f} (start)")
        header = ("samples", "INSERT ms", "store ms", "again: INSERT", "store")
        print("  {:>7s} {:>10s} {:>9s} {:>14s} {:>6s}".format(*header))
        for size in (2, 20, 200, 1000, 5000):
            best: dict[str, list[float]] = {name: [9e9, 9e9] for name in writers}
            for _ in range(rounds):
                for name, write in writers.items():
                    rows = batch(size)
                    made += size
                    for attempt in (0, 1):  # new rows, then the same again
                        started = time.perf_counter()
                        write(rows if attempt == 0 else [*rows])
                        elapsed = 1000 * (time.perf_counter() - started)
                        best[name][attempt] = min(best[name][attempt], elapsed)
            print(
                f"  {size:7d} {best['INSERT'][0]:10.2f} {best['store'][0]:9.2f} "
                f"{best['INSERT'][1]:14.2f} {best['store'][1]:6.2f}"
            )
        stored = MeterSample.objects.count()
        print(f"  rows stored {stored} of {made} made (each once: retransmissions skipped)")
        print(f"load average {os.getloadavg()[0]:.1f} (end); best of {rounds} rounds")


def _new_samples(charge_point: Any) -> Callable[[int], list[Any]]:
    """A maker of `count` new meter samples of `charge_point` (each call's times after the
    last's: never a retransmission), energy and power in turn, as a charger sends them."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from stations.models import MeterSample

    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = 0

    def samples(count: int) -> list[MeterSample]:
        nonlocal made
        made += count
        return [
            MeterSample(
                charge_point=charge_point,
                connector_id=1,
                timestamp=start + timedelta(seconds=made - n),
                measurand="Power.Active.Import" if n % 2 else "Energy.Active.Import.Register",
                unit="W" if n % 2 else "Wh",
                value=str(made - n),
                value_decimal=Decimal(made - n).quantize(Decimal("0.000001")),
                received_at=start,
            )
            for n in range(count)
        ]

    return samples


def time_sample_cpu(calls: int, rounds: int) -> None:
    """Print the CPU per call (this process's and PostgreSQL's backend's) of a MeterValues
    call's sample INSERT, three ways alternated in each round: meter_samples.store (the
    samples' attributes as they are), the same multi-row INSERT with each field's
    get_db_prep_save (bulk_insert.values), and one INSERT from arrays (insert_arrays);
    for 2 samples a call (bench/ocpp_load.py's) and for 1 to 12 (chargers differ)."""
    import random

    from bench.scratch_database import scratch_database

    with scratch_database("sample_cpu"):
        from django.db import connection

        from stations import bulk_insert, meter_samples
        from stations.models import ChargePoint, MeterSample

        if connection.vendor != "postgresql":
            raise SystemExit("this compares PostgreSQL's writes: set DATABASE_URL")
        call = _new_samples(ChargePoint.objects.create(charge_point_id="SAMPLE-CPU-1"))

        def arrays(samples: list[MeterSample]) -> None:
            row = meter_samples._row
            columns = [list(column) for column in zip(*map(row, samples), strict=True)]
            bulk_insert.insert_arrays(MeterSample, columns, ignore_conflicts=True)

        writers = {
            "store": meter_samples.store,
            "get_db_prep_save": lambda samples: bulk_insert.insert(
                MeterSample, samples, ignore_conflicts=True
            ),
            "arrays": arrays,
        }
        for label, counts in (("2 samples", [2]), ("1-12 samples", list(range(1, 13)))):
            spent: dict[str, list[tuple[float, float]]] = {name: [] for name in writers}
            for round_number in range(rounds):
                for name, write in writers.items():
                    sizes = random.Random(round_number)
                    batches = [call(sizes.choice(counts)) for _ in range(calls)]
                    process, backends = time.process_time(), _backends_cpu()
                    for samples in batches:
                        write(samples)
                    process = 1000 * (time.process_time() - process) / calls
                    backends = 1000 * (_backends_cpu() - backends) / calls
                    spent[name].append((process, backends))
            print(f"{label} a call, {calls} calls x {rounds} rounds, CPU-ms per call")
            print(f"  (load average {os.getloadavg()[0]:.1f}; process | PostgreSQL backend)")
            for name, figures in spent.items():
                process = " ".join(f"{p:.3f}" for p, _ in figures)
                backends = " ".join(f"{b:.3f}" for _, b in figures)
                print(f"  {name:17s} {process} | {backends}")


# One charger's session, in the order a charger sends it: (action, payload).
# The handshake's round trips (admission, ownership, listeners), printed before the calls.
CONNECT = "(the connect)"
SESSION = [
    ("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "Trips-1"}),
    ("Heartbeat", {}),
    ("StatusNotification", {"connectorId": 0, "errorCode": "NoError", "status": "Available"}),
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"}),
    ("Authorize", {"idTag": "TRIPS-TAG"}),
    ("StartTransaction", {"connectorId": 1, "idTag": "TRIPS-TAG", "meterStart": 1000}),
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}),
    ("MeterValues", {"connectorId": 1, "samples": 2}),
    ("MeterValues", {"connectorId": 1, "samples": 2}),
    ("Heartbeat", {}),
    ("MeterValues", {"connectorId": 1, "samples": 2}),
    ("StopTransaction", {"meterStop": 5000, "reason": "EVDisconnected"}),
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Finishing"}),
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
]


def count_round_trips(show_sql: bool) -> None:
    """Print the database round trips of each call of SESSION (module docstring)."""
    import threading

    from bench.scratch_database import scratch_database

    with scratch_database("round_trips") as database:
        from django.conf import settings
        from django.db import connection
        from django.db.backends.signals import connection_created

        settings.FLEET_READ_CONFIGURATION_AT_BOOT = False
        postgres = connection.vendor == "postgresql"
        sent: list[str] = []  # every round trip, in order, from any thread
        lock = threading.Lock()

        def count(execute, sql, params, many, context):
            db = context["connection"]
            with lock:
                if postgres and db.in_atomic_block and not getattr(db, "bench_in_tx", False):
                    db.bench_in_tx = True  # psycopg sends BEGIN before the first statement

                    def committed() -> None:
                        db.bench_in_tx = False
                        sent.append("COMMIT")

                    sent.append("BEGIN")
                    db.on_commit(committed)
                elif not postgres and sql.startswith("BEGIN"):
                    db.on_commit(lambda: sent.append("COMMIT"))
                sent.append(sql)
            return execute(sql, params, many, context)

        def watch(sender, connection, **kwargs):
            connection.execute_wrappers.append(count)

        connection_created.connect(watch)
        connection.close()  # every connection from here on is counted
        if postgres:
            # COPY (the message log's) goes past Django's execute wrappers.
            import psycopg

            copy = psycopg.Cursor.copy

            def counted_copy(cursor, statement, *args, **kwargs):
                with lock:
                    sent.append(str(statement))
                return copy(cursor, statement, *args, **kwargs)

            psycopg.Cursor.copy = counted_copy
        calls = asyncio.run(_drive_session(sent))

        print(f"{connection.vendor}: database round trips per OCPP call ({database})")
        total = 0
        for action, trips in calls:
            trips = [sql for sql in trips if "stations_ocppmessage" not in sql]
            if action != CONNECT:
                total += len(trips)
            print(f"  {action:24s} {len(trips):3d}")
            if show_sql:
                for sql in trips:
                    print(f"      {sql[:160]}")
        print(f"  {'all ' + str(len(calls) - 1) + ' calls':24s} {total:3d}")
        logged = sum(1 for sql in sent if "stations_ocppmessage" in sql)
        print(f"  message log: {logged} INSERT/COPY for {2 * len(calls)} frames (apart, batched)")


def _payload(action: str, template: dict, now: str, transaction_id: int | None, meter: int) -> dict:
    """The payload of a call of SESSION at `now`, the meter reading `meter` Wh."""
    payload = dict(template)
    if action in ("StartTransaction", "StatusNotification"):
        payload["timestamp"] = now
    elif action == "StopTransaction":
        payload.update(transactionId=transaction_id, timestamp=now)
    elif action == "MeterValues":
        sampled = [
            {"value": str(meter), "unit": "Wh"},
            {"value": "7400", "unit": "W", "measurand": "Power.Active.Import"},
        ]
        payload = {
            "connectorId": template["connectorId"],
            "transactionId": transaction_id,
            "meterValue": [{"timestamp": now, "sampledValue": sampled[: template["samples"]]}],
        }
    return payload


def time_cpu_per_call(sessions: int) -> None:
    """Print the CPU time of each action of SESSION (module docstring, --cpu)."""
    from bench.scratch_database import scratch_database

    with scratch_database("call_cpu") as database:
        from django.conf import settings
        from django.db import connection

        settings.FLEET_READ_CONFIGURATION_AT_BOOT = False
        cpu, log_cpu, frames, backend_cpu = asyncio.run(_drive_sessions(sessions))
        print(f"{connection.vendor}: CPU per OCPP call, {sessions} sessions ({database})")
        print(f"machine: load average {os.getloadavg()[0]:.1f}")
        total = 0.0
        calls = 0
        for action, spent in cpu.items():
            total += sum(spent)
            calls += len(spent)
            print(
                f"  {action:20s} median {statistics.median(spent) * 1e3:6.2f} ms"
                f"  mean {statistics.mean(spent) * 1e3:6.2f} ms  ({len(spent)} calls)"
            )
        print(f"  all calls            mean {total / calls * 1e3:6.2f} ms")
        if backend_cpu is not None:
            print(
                f"  PostgreSQL's backends {backend_cpu / calls * 1e3:5.2f} ms per call (all calls)"
            )
        print(f"  message log write    {log_cpu / frames * 1e3:6.3f} ms per frame")


def _backends_cpu() -> float | None:
    """PostgreSQL: the CPU seconds the backends serving this database have used (read from
    /proc: the server runs on this machine), the bench's own connection's included; None
    on SQLite. Ticks of 10 ms: a figure over many calls, not per call."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = [pid for (pid,) in cursor.fetchall()]
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None  # another machine's server
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# SESSION with a car that pauses: two MeterValues while the connector is SuspendedEV.
PAUSED = [
    *SESSION[:9],
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "SuspendedEV"}),
    *SESSION[9:],
]


def time_listeners(sessions: int, driver: bool) -> None:
    """Print, for each action of SESSION, what each listener of stations' signals costs
    per call (module docstring, --listeners): its queries, the Celery tasks it publishes
    and its CPU time (the thread's: a listener's work handed to the event loop, a live
    update's, is the loop's), over `sessions` sessions after a first one not counted
    but for its connect and boot.
    `driver`: the token has an owner and the car pauses (PAUSED)."""
    import threading

    from bench.scratch_database import scratch_database

    with scratch_database("listeners") as database:
        from celery import Celery
        from django.conf import settings
        from django.db import connection
        from django.db.backends.signals import connection_created
        from django.dispatch import Signal

        from stations import signals

        settings.FLEET_READ_CONFIGURATION_AT_BOOT = False
        ours = {id(value) for value in vars(signals).values() if isinstance(value, Signal)}
        local = threading.local()  # the figures of the listener running in this thread
        seen: dict[tuple[str, str], list] = {}  # (action, listener): [calls, queries, tasks, cpu]
        state = {"action": CONNECT, "counting": True}  # the connect's, then each call's

        def count_query(execute, sql, params, many, context):
            if getattr(local, "figures", None) is not None:
                local.figures[1] += 1
            return execute(sql, params, many, context)

        def watch(sender, connection, **kwargs):
            connection.execute_wrappers.append(count_query)

        connection_created.connect(watch)
        connection.close()
        send_task = Celery.send_task

        def counted_send_task(app, name, *args, **kwargs):
            if getattr(local, "figures", None) is not None:
                local.figures[2].append(name.rsplit(".", 1)[-1])
            return send_task(app, name, *args, **kwargs)

        Celery.send_task = counted_send_task
        send_robust = Signal.send_robust

        def timed_send_robust(signal, sender, **named):
            if id(signal) not in ours:
                return send_robust(signal, sender, **named)
            sync_receivers, _ = signal._live_receivers(sender)
            for receiver in sync_receivers:
                name = f"{receiver.__module__}.{receiver.__qualname__}"
                local.figures = [1, 0, [], 0.0]
                before = time.thread_time()
                try:
                    receiver(signal=signal, sender=sender, **named)
                except Exception:
                    pass
                local.figures[3] = time.thread_time() - before
                figures, local.figures = local.figures, None
                if state["counting"]:
                    total = seen.setdefault((state["action"], name), [0, 0, [], 0.0])
                    for n in (0, 1, 3):
                        total[n] += figures[n]
                    total[2] += figures[2]
            return []

        Signal.send_robust = timed_send_robust

        def on_call(action: str, counted: bool) -> None:
            # The boot is the first session's only: counted once.
            state["action"] = action
            state["counting"] = counted or action == "BootNotification"

        plan = PAUSED if driver else SESSION
        asyncio.run(_drive_sessions(sessions, on_call, plan, driver))
        print(
            f"{connection.vendor}: listeners of stations' signals, {sessions} sessions ({database})"
        )
        print(f"machine: load average {os.getloadavg()[0]:.1f}")
        if driver:
            print("the token has an owner; the car pauses (SuspendedEV) for two MeterValues")
        calls = {CONNECT: 1, "BootNotification": 1}
        for action, _ in plan[1:]:
            calls[action] = calls.get(action, 0) + sessions
        print(f"  {'per call':60s} queries  tasks  CPU ms")
        for action in calls:
            rows = [(name, f) for (a, name), f in seen.items() if a == action]
            cpu = sum(f[3] for _, f in rows) / calls[action]
            queries = sum(f[1] for _, f in rows) / calls[action]
            tasks = sum(len(f[2]) for _, f in rows) / calls[action]
            head = f"{action} ({calls[action]} calls)"
            print(f"{head:60s} {queries:7.2f} {tasks:6.2f} {cpu * 1e3:7.3f}")
            for name, (_, queries, tasks, spent) in sorted(rows, key=lambda r: -r[1][3]):
                per = calls[action]
                print(
                    f"  {name[:58]:58s} {queries / per:7.2f} {len(tasks) / per:6.2f}"
                    f" {spent / per * 1e3:7.3f}  {' '.join(sorted(set(tasks)))}"
                )


async def _drive_sessions(
    sessions: int,
    on_call: Callable[[str, bool], None] | None = None,
    plan: list[tuple[str, dict]] = SESSION,
    driver: bool = False,
) -> tuple[dict[str, list[float]], float, int, float | None]:
    """Boot one charger through the real ASGI application, then send SESSION after its
    boot `sessions` + 1 times; the CPU time of each call by action (the first session
    not counted), the message log's CPU and frames, and PostgreSQL's backends' CPU over
    the counted calls (None on SQLite). `plan` is the session's calls; `driver`, the
    token has an owner; `on_call(action, counted)` is told each call."""
    import json

    from asgiref.sync import sync_to_async

    from bench import in_process_charger
    from stations.models import ChargePoint, Connector
    from stations.ocpp import message_log
    from users.models import IdToken, User

    # Its own id: runs side by side may share one Redis channel layer.
    charge_point_id = f"CPU-{os.getpid()}"

    def register() -> None:
        charge_point = ChargePoint(charge_point_id=charge_point_id)
        charge_point.set_password("bench-password")
        charge_point.save()
        Connector.objects.create(charge_point=charge_point, connector_id=1)
        owner = None
        if driver:
            owner = User.objects.create_user(f"driver-{os.getpid()}@example.com", "pw-bench-1")
        IdToken.objects.create(uid="TRIPS-TAG", owner=owner)

    await sync_to_async(register)()
    communicator = in_process_charger.charger(charge_point_id, "bench-password")
    # The log is written at the end, timed apart.
    message_log.FLUSH_INTERVAL, message_log.FLUSH_SIZE, batch = 3600, 10**9, message_log.FLUSH_SIZE
    connected, _ = await communicator.connect(timeout=30)
    assert connected, "the consumer refused the bench charger"
    cpu: dict[str, list[float]] = {}
    number = 0
    started = time.time() - 86400 * 30
    backends_before = None
    for session in range(sessions + 1):
        if session == 1:  # the backends that serve the calls are open now
            backends_before = await sync_to_async(_backends_cpu)()
        transaction_id = None
        meter = 1000
        for action, template in plan if session == 0 else plan[1:]:
            number += 1
            stamp = time.gmtime(started + number)
            now = time.strftime("%Y-%m-%dT%H:%M:%S", stamp) + ".000Z"
            meter += 500
            payload = _payload(action, template, now, transaction_id, meter)
            frame = json.dumps([2, str(number), action, payload])
            if on_call is not None:
                on_call(action, bool(session))
            before = time.process_time()
            await communicator.send_to(text_data=frame)
            answer = json.loads(await communicator.receive_from(timeout=30))
            spent = time.process_time() - before
            assert answer[0] == 3, answer
            if session:
                cpu.setdefault(action, []).append(spent)
            if action == "StartTransaction":
                transaction_id = answer[2]["transactionId"]
            if action == "BootNotification":
                await asyncio.sleep(2)  # the work after a boot runs as a task of its own
                await message_log.flush()
    backends_after = await sync_to_async(_backends_cpu)()
    backend_cpu = None
    if backends_before is not None and backends_after is not None:
        backend_cpu = backends_after - backends_before
    # The log of the counted sessions, in batches of FLUSH_SIZE as under load.
    frames = len(message_log._buffer)
    message_log.FLUSH_SIZE = batch
    before = time.process_time()
    await message_log.flush()
    log_cpu = time.process_time() - before
    await communicator.disconnect(timeout=30)
    return cpu, log_cpu, frames, backend_cpu


async def _settled(sent: list[str]) -> None:
    """Wait until no round trip has been made for a second."""
    seen = -1
    while seen != len(sent):
        seen = len(sent)
        await asyncio.sleep(1)


async def _drive_session(sent: list[str]) -> list[tuple[str, list[str]]]:
    """Connect one charger through the real ASGI application and send SESSION; each
    call's action and the round trips it cost before its answer came back."""
    import json

    from asgiref.sync import sync_to_async

    from bench import in_process_charger
    from stations.models import ChargePoint, Connector
    from stations.ocpp import message_log
    from users.models import IdToken

    def register() -> None:
        charge_point = ChargePoint(charge_point_id="TRIPS-1")
        charge_point.set_password("bench-password")
        charge_point.save()
        Connector.objects.create(charge_point=charge_point, connector_id=1)
        IdToken.objects.create(uid="TRIPS-TAG")

    await sync_to_async(register)()
    registered = len(sent)
    communicator = in_process_charger.charger("TRIPS-1", "bench-password")
    # The log is written between calls here, so that no call is charged with its writes.
    message_log.FLUSH_INTERVAL = 3600
    connected, _ = await communicator.connect(timeout=30)
    assert connected, "the consumer refused the bench charger"
    await _settled(sent)  # marked connected after the handshake
    calls = [(CONNECT, sent[registered:])]
    transaction_id = None
    meter = 1000
    for number, (action, template) in enumerate(SESSION, start=1):
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{number:03d}Z"
        meter += 500
        payload = _payload(action, template, now, transaction_id, meter)
        await message_log.flush()
        before = len(sent)
        await communicator.send_to(text_data=json.dumps([2, str(number), action, payload]))
        answer = json.loads(await communicator.receive_from(timeout=30))
        assert answer[0] == 3, answer
        calls.append((action, sent[before:]))
        if action == "StartTransaction":
            transaction_id = answer[2]["transactionId"]
        if action == "BootNotification":
            await _settled(sent)  # the work after a boot runs as a task of its own
    await communicator.disconnect(timeout=30)
    await message_log.flush()
    return calls


if __name__ == "__main__":
    main()
