"""OCPP 1.6 load benchmark: many chargers, a steady call rate, round-trip latencies.

    .venv/bin/python bench/ocpp_load.py --chargers 1000 --rate 1000 --duration 30
    .venv/bin/python bench/ocpp_load.py --chargers 5000 --rate 100 --duration 60
    .venv/bin/python bench/ocpp_load.py --chargers 200 --rate 3000 --duration 20 --compare-reference
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chargehub REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/ocpp_load.py --chargers 1000 --rate 1000 --workers 2

By default it starts the server itself (`manage.py serve --server S`, K processes with --workers K)
on a throwaway database: a SQLite file in a temporary directory, or, when DATABASE_URL
is set, a fresh database `<its name>_bench_<pid>` on that PostgreSQL server (dropped at the
end). REDIS_URL, when set, is the channel layer; --workers above 1 needs it. Chargers
are spread across the server processes round-robin, standing in for a load balancer.

The chargers are cheap raw-websocket clients with pre-built frames, run in
--client-processes processes, so that the client is not what is measured. Each sends
a realistic mix: Heartbeats and StatusNotifications while idle, StartTransaction,
MeterValues every so often and StopTransaction while charging; one call at a time per
charger (OCPP-J §4.1.1). The total rate is --rate calls/s. Only 127.0.0.1 is targeted.

Prints: chargers connected, calls sent/answered, calls/s, latency p50/p95/p99/max, the
calls over 100 ms by server and second (a process's pause shows as a burst on one),
errors, server RSS and the database rows written. --profile FILE runs py-spy on the
(first) server process during the load (with --storm: while the chargers connect and
boot, until the last one has) and prints its top functions, sampling only the
thread that holds the GIL (the CPU; the database threads queueing for the GIL would
otherwise look like time spent in psycopg) (py-spy must be
installed in the venv: .venv/bin/pip install py-spy; it is not a requirement).
--compare-reference then runs the same chargers and load against bench/ocpp_reference.py
(the `ocpp` library's central-system pattern on `websockets`, storing nothing) and prints
ChargeHub's calls/s over the reference's: with --rate above both capacities, that is the
ratio of their throughputs.

Where the machine's CPU went during the load is printed too, in CPU-ms per call: the
servers, PostgreSQL's backends for the run's database, Redis (its own INFO figures, the
whole Redis server: give the run a Redis of its own, `redis-server --port 6390`, for a
clean figure), the client processes, and the rest (other processes, PostgreSQL's
background writers), and the Redis commands per call (those a Lua script runs included:
Redis counts them alike).
"""

import argparse
import asyncio
import base64
import itertools
import json
import multiprocessing
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-0123456789"
ID_TAG = "BENCH-TAG"
BENCH_DB_SUFFIX = f"_bench_{os.getpid()}"  # one per run: runs may overlap
CONNECTORS = 2
SETTLED_CPU = 0.2  # of a core: a held server's own pings and checks stay below it
SLOW_CALL = 0.1  # seconds: calls slower than this are listed by when they were sent


# --- Client side (no Django here: these run in their own processes) ----------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BenchCharger:
    """One charger's state and its next call, as a pre-formatted OCPP-J frame."""

    def __init__(self, charge_point_id: str, idle_only: bool = False) -> None:
        self.id = charge_point_id
        self.idle_only = idle_only  # a held charger: Heartbeat and StatusNotification only
        self.counter = itertools.count(1)
        self.register_wh = random.randint(0, 1_000_000)
        self.transaction: tuple[int, int] | None = None  # (connector, transactionId)
        self.pending_start: int | None = None

    def message_id(self) -> str:
        return f"{next(self.counter)}"

    def boot(self) -> tuple[str, str]:
        uid = self.message_id()
        return uid, (
            f'[2,"{uid}","BootNotification",{{"chargePointVendor":"Bench",'
            f'"chargePointModel":"Load-1","chargePointSerialNumber":"{self.id[-20:]}"}}]'
        )

    def next_call(self) -> tuple[str, str, str]:
        """(message id, action, frame) of the next call in a plausible day of a charger."""
        uid = self.message_id()
        roll = random.random()
        if self.idle_only:
            if roll < 0.8:
                return uid, "Heartbeat", f'[2,"{uid}","Heartbeat",{{}}]'
            roll = 0.6  # four Heartbeats to one StatusNotification
        if self.transaction is None:
            if roll < 0.55:
                return uid, "Heartbeat", f'[2,"{uid}","Heartbeat",{{}}]'
            if roll < 0.85:
                status = random.choice(("Available", "Preparing", "Available"))
                connector = random.randint(0, CONNECTORS)
                return (
                    uid,
                    "StatusNotification",
                    (
                        f'[2,"{uid}","StatusNotification",{{"connectorId":{connector},'
                        f'"errorCode":"NoError","status":"{status}","timestamp":"{_now()}"}}]'
                    ),
                )
            connector = random.randint(1, CONNECTORS)
            self.pending_start = connector
            return (
                uid,
                "StartTransaction",
                (
                    f'[2,"{uid}","StartTransaction",{{"connectorId":{connector},'
                    f'"idTag":"{ID_TAG}","meterStart":{self.register_wh},"timestamp":"{_now()}"}}]'
                ),
            )
        connector, transaction_id = self.transaction
        if roll < 0.08:
            self.transaction = None
            return (
                uid,
                "StopTransaction",
                (
                    f'[2,"{uid}","StopTransaction",{{"transactionId":{transaction_id},'
                    f'"meterStop":{self.register_wh},"timestamp":"{_now()}","reason":"EVDisconnected"}}]'
                ),
            )
        if roll < 0.15:
            return uid, "Heartbeat", f'[2,"{uid}","Heartbeat",{{}}]'
        self.register_wh += random.randint(50, 400)
        power = random.randint(7000, 11000)
        stamp = _now()
        return (
            uid,
            "MeterValues",
            (
                f'[2,"{uid}","MeterValues",{{"connectorId":{connector},'
                f'"transactionId":{transaction_id},"meterValue":[{{"timestamp":"{stamp}",'
                f'"sampledValue":[{{"value":"{self.register_wh}","measurand":'
                f'"Energy.Active.Import.Register","unit":"Wh","context":"Sample.Periodic"}},'
                f'{{"value":"{power}","measurand":"Power.Active.Import","unit":"W",'
                f'"context":"Sample.Periodic"}}]}}]}}]'
            ),
        )

    def answered(self, action: str, reply: str) -> None:
        if action == "StartTransaction" and self.pending_start is not None:
            payload = json.loads(reply)[2]
            self.transaction = (self.pending_start, payload["transactionId"])
            self.pending_start = None


async def _client_main(job: dict) -> dict:
    from websockets.asyncio.client import connect

    chargers = [BenchCharger(cp_id, job["idle_only"]) for cp_id in job["ids"]]
    urls = job["urls"]
    latencies: list[float] = []
    slow: list[tuple[float, float, str]] = []  # (seconds into the load sent, latency, server)
    server_of: dict[str, str] = {}
    errors: Counter[str] = Counter()
    sent = answered = 0
    sockets: dict[str, object] = {}
    # A storm: every charger at once (a fleet coming back after a power or network cut).
    connect_gap = 0 if job["storm"] else 1 / job["connect_rate"]
    timeout = job["call_timeout"]
    boot_seconds: list[float] = []  # from the start until its BootNotification was accepted
    attempts_made: list[int] = []
    job["up"].put(True)
    await asyncio.to_thread(job["go"].wait)  # every client process starts together
    started = time.monotonic()
    connect_cpu = time.process_time()

    async def open_one(index: int, charger: BenchCharger) -> None:
        await asyncio.sleep(index * connect_gap)
        token = base64.b64encode(f"{charger.id}:{PASSWORD}".encode()).decode()
        for attempt in range(job["connect_attempts"]):
            if await connect_once(urls[index], charger, token):
                server_of[charger.id] = urls[index]
                boot_seconds.append(time.monotonic() - started)
                attempts_made.append(attempt + 1)
                return
            # Like a real charger: exponential backoff with jitter (a refused upgrade
            # counts), so that a storm spreads out instead of coming back in step.
            await asyncio.sleep(random.uniform(1, 2) * 2 ** min(attempt, 4))

    async def connect_once(url: str, charger: BenchCharger, token: str) -> bool:
        try:
            ws = await connect(
                f"{url}/ocpp/{charger.id}",
                subprotocols=["ocpp1.6"],
                additional_headers={"Authorization": f"Basic {token}"},
                open_timeout=60,
                ping_interval=None,  # the server pings; answering is enough
                max_queue=4,
                compression=None,
            )
            uid, frame = charger.boot()
            await ws.send(frame)
            reply = await asyncio.wait_for(ws.recv(), 60)
            if not reply.startswith(f'[3,"{uid}"'):
                errors["boot refused"] += 1
                await ws.close()
                return False
            sockets[charger.id] = ws
            return True
        except Exception as error:
            cause = f" ({type(error.__cause__).__name__})" if error.__cause__ else ""
            errors[f"connect attempt failed: {type(error).__name__}{cause}"] += 1
            return False

    opening = [asyncio.ensure_future(open_one(i, c)) for i, c in enumerate(chargers)]
    _, late = await asyncio.wait(opening, timeout=job["connect_deadline"])
    for task in late:  # still trying at the deadline: not booted, counted apart
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    connect_seconds = time.monotonic() - started
    connect_cpu = time.process_time() - connect_cpu
    job["progress"].put(len(sockets))
    # Every client process connected: start the load together.
    await asyncio.to_thread(job["ready"].wait)

    live = [c for c in chargers if c.id in sockets]
    per_charger_interval = len(live) / job["rate"] if job["rate"] > 0 else 1e9
    load_start = time.monotonic()
    load_start_perf = time.perf_counter()
    end = load_start + job["duration"]

    async def drive(charger: BenchCharger) -> None:
        nonlocal sent, answered
        ws = sockets[charger.id]
        next_at = load_start + random.uniform(0, per_charger_interval)
        while True:
            # Never past the end: a held charger's next call may be minutes away.
            delay = min(next_at, end) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() >= end:
                return
            uid, action, frame = charger.next_call()
            t0 = time.perf_counter()
            try:
                await ws.send(frame)
                sent += 1
                reply = await asyncio.wait_for(ws.recv(), timeout)
            except TimeoutError:
                errors[f"timeout {action}"] += 1
                return  # the answer may still come: this socket is out of step now
            except Exception as error:
                errors[f"closed: {type(error).__name__}"] += 1
                return
            latencies.append(time.perf_counter() - t0)
            if latencies[-1] > SLOW_CALL:
                slow.append((t0 - load_start_perf, latencies[-1], server_of[charger.id]))
            if reply.startswith(f'[3,"{uid}"'):
                answered += 1
                charger.answered(action, reply)
            else:
                errors[f"CALLERROR {action}: {reply[:120]}"] += 1
            next_at += per_charger_interval

    cpu0 = time.process_time()
    await asyncio.gather(*(drive(c) for c in live))
    load_seconds = time.monotonic() - load_start
    cpu = time.process_time() - cpu0
    still_open = sum(1 for ws in sockets.values() if ws.state.name == "OPEN")
    await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)
    return {
        "connected": len(sockets),
        "still_open": still_open,
        "connect_seconds": connect_seconds,
        "boot_seconds": boot_seconds,
        "attempts": attempts_made,
        "still_trying": len(late),
        "sent": sent,
        "answered": answered,
        "latencies": latencies,
        "errors": dict(errors),
        "load_seconds": load_seconds,
        "client_cpu_seconds": cpu,
        "connect_cpu_seconds": connect_cpu,
        "slow": slow,
    }


def _client_process(job: dict, results: "multiprocessing.Queue[dict]") -> None:
    _raise_file_limit()
    results.put(asyncio.run(_client_main(job)))


# --- Server side ------------------------------------------------------------------------


def _raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _machine_cpu_seconds() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot, all cores (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / ticks, idle / ticks


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _dependency_cpu(redis_url: str) -> dict[str, Any]:
    """Cumulative CPU seconds now: the machine's busy time, PostgreSQL's backends of the
    run's database (by pid: one that disappears before the next reading is not counted),
    Redis's own figure (INFO cpu, the whole server)."""
    from django.db import connection

    taken: dict[str, Any] = {"machine": _machine_cpu_seconds()[0], "postgres": {}, "redis": None}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
            for (pid,) in cursor.fetchall():
                try:
                    taken["postgres"][pid] = _cpu_seconds(pid)
                except OSError:
                    pass  # gone since, or another machine's PostgreSQL
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            cpu = client.info("cpu")
            taken["redis"] = cpu["used_cpu_sys"] + cpu["used_cpu_user"]
            taken["redis_commands"] = client.info("stats")["total_commands_processed"]
        finally:
            client.close()
    return taken


def _print_cpu_split(
    before: dict[str, Any], after: dict[str, Any], servers: float, clients: float, calls: int
) -> None:
    """Where the machine's CPU went between two _dependency_cpu readings, per call."""
    postgres = sum(cpu - before["postgres"].get(pid, 0.0) for pid, cpu in after["postgres"].items())
    redis = after["redis"] - before["redis"] if before["redis"] is not None else 0.0
    commands = after.get("redis_commands", 0) - before.get("redis_commands", 0)
    machine = after["machine"] - before["machine"]
    rest = machine - servers - clients - postgres - redis
    per_call = 1000 / max(calls, 1)
    print(
        f"CPU-ms per call:     servers {servers * per_call:.2f}, PostgreSQL backends "
        f"{postgres * per_call:.2f}, Redis {redis * per_call:.2f}, clients "
        f"{clients * per_call:.2f}, rest of the machine {rest * per_call:.2f} "
        f"(machine busy {machine * per_call:.2f}; {calls} calls); Redis commands per call "
        f"{commands / max(calls, 1):.2f} (a Lua script's own commands counted too)"
    )


def _bench_database(database_url: str) -> str:
    """The run's throwaway database: DATABASE_URL's name with _bench_<pid> (chargehub_4
    gives chargehub_4_bench_<pid>), so that sessions sharing a server keep to their names."""
    name = urlsplit(database_url).path.lstrip("/") or "chargehub"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit("DATABASE_URL must name a plain database (lowercase, digits, _)")
    return name + BENCH_DB_SUFFIX


def _postgres_bench_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/{_bench_database(database_url)}"))


def _recreate_postgres(database_url: str, drop_only: bool = False, template: str = "") -> None:
    import psycopg

    admin = urlunsplit(urlsplit(database_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        name = _bench_database(database_url)
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop_only:
            copy = f" TEMPLATE {template}" if template else ""
            conn.execute(f"CREATE DATABASE {name}{copy}")


def _setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargehub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _register(count: int) -> list[str]:
    from stations.models import ChargePoint, Connector
    from users.models import IdToken

    ids = [f"BENCH-{i:05d}" for i in range(1, count + 1)]
    template = ChargePoint(charge_point_id="template")
    template.set_password(PASSWORD)  # one hash (salt included) serves every charger
    ChargePoint.objects.bulk_create(
        [ChargePoint(charge_point_id=cp_id, password_hash=template.password_hash) for cp_id in ids],
        batch_size=1000,
    )
    by_id = dict(ChargePoint.objects.values_list("charge_point_id", "pk"))
    Connector.objects.bulk_create(
        [
            Connector(charge_point_id=by_id[cp_id], connector_id=n)
            for cp_id in ids
            for n in range(0, CONNECTORS + 1)
        ],
        batch_size=2000,
    )
    IdToken.objects.get_or_create(uid=ID_TAG)
    return ids


def _row_counts() -> dict[str, int]:
    from stations.models import ChargingSession, MeterSample, OcppMessage, StatusEvent

    return {
        "OcppMessage": OcppMessage.objects.count(),
        "MeterSample": MeterSample.objects.count(),
        "StatusEvent": StatusEvent.objects.count(),
        "ChargingSession": ChargingSession.objects.count(),
    }


def _start_servers(
    count: int, env: dict[str, str], logs: Path, server: str
) -> list[tuple[subprocess.Popen, str]]:
    servers = []
    for n in range(count):
        port = _free_port()
        log = open(logs / f"server-{n}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--server", server],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        servers.append((process, f"ws://127.0.0.1:{port}"))
    for process, url in servers:
        port = int(url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"server exited, see {logs}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("server did not start") from None
                time.sleep(0.2)
    return servers


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(fraction * len(values)) - 1))
    return values[index]


def _top_functions(raw_path: Path, limit: int = 20) -> list[tuple[str, float, float]]:
    """(function, self %, total %) from py-spy's collapsed-stack output."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if not samples:
        return []
    return [
        (frame, 100 * n / samples, 100 * total[frame] / samples)
        for frame, n in own.most_common(limit)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1000, help="total calls/s")
    parser.add_argument("--duration", type=float, default=30, help="seconds of load")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--server", default="daphne", help="serve --server: daphne or uvicorn")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--connect-rate", type=float, default=100, help="new sockets/s in all")
    parser.add_argument("--call-timeout", type=float, default=30)
    parser.add_argument("--connect-attempts", type=int, default=6, help="per charger")
    parser.add_argument(
        "--connect-deadline",
        type=float,
        default=600,
        help="seconds for all chargers to connect; those still trying then count apart",
    )
    parser.add_argument(
        "--storm",
        action="store_true",
        help="every charger connects at once (no --connect-rate pacing); prints the time "
        "until all BootNotifications are accepted and how many chargers gave up",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        help="held chargers: each sends a Heartbeat (or, one in five, a StatusNotification) "
        "every this many seconds; sets --rate to chargers / interval",
    )
    parser.add_argument(
        "--url", help="use a running server (ws://127.0.0.1:PORT); its chargers must exist"
    )
    parser.add_argument(
        "--asgi-threads", type=int, help="ASGI_THREADS for the server (database thread pool)"
    )
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of server 1 here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--template",
        default="",
        help="PostgreSQL: copy this migrated, empty database (CREATE DATABASE ... TEMPLATE)"
        " instead of running migrate, which takes minutes on a busy machine",
    )
    parser.add_argument(
        "--compare-reference",
        action="store_true",
        help="run the same load against bench/ocpp_reference.py too and print the ratio",
    )
    args = parser.parse_args()

    if args.heartbeat_interval:
        args.rate = args.chargers / args.heartbeat_interval
    if not 1 <= args.chargers <= 20_000 or args.duration > 900 or args.rate > 20_000:
        raise SystemExit("Bounds: 1..20000 chargers, duration <= 900 s, rate <= 20000/s")
    if args.template and not re.fullmatch(r"[a-z_][a-z0-9_]*", args.template):
        raise SystemExit("--template takes a plain database name")
    if args.url and urlsplit(args.url).hostname not in {"127.0.0.1", "localhost"}:
        raise SystemExit("This benchmark only targets 127.0.0.1")
    file_limit = _raise_file_limit()
    needed = args.chargers + 200
    if file_limit < needed:
        raise SystemExit(f"ulimit -n is {file_limit} (hard limit); {needed} needed")
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if args.workers > 1 and not redis_url and not args.url:
        print("note: several workers without REDIS_URL share the embedded SQLite channel layer")

    tmp = Path(tempfile.mkdtemp(prefix="chargehub-bench-"))
    env = {
        **os.environ,
        "CHARGEHUB_VAR_DIR": str(tmp),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    if args.asgi_threads:
        env["ASGI_THREADS"] = str(args.asgi_threads)
    if database_url:
        env["DATABASE_URL"] = _postgres_bench_url(database_url)
        _recreate_postgres(database_url, template=args.template)
    else:
        env.pop("DATABASE_URL", None)
    database = "PostgreSQL" if database_url else f"SQLite ({tmp})"
    layer = "Redis" if redis_url else "embedded SQLite layer"
    servers: list[tuple[subprocess.Popen, str]] = []
    rss_started: list[float] = []
    profiler = None
    try:
        if args.url:
            urls = [args.url.rstrip("/")]
            ids = [f"BENCH-{i:05d}" for i in range(1, args.chargers + 1)]
            _setup_django({k: v for k, v in env.items() if k != "CHARGEHUB_VAR_DIR"})
        else:
            if not (args.template and database_url):  # a template is PostgreSQL's
                subprocess.run(
                    [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                    cwd=ROOT,
                    env=env,
                    check=True,
                )
            _setup_django(env)
            ids = _register(args.chargers)
            servers = _start_servers(args.workers, env, tmp, args.server)
            urls = [url for _, url in servers]
            rss_started = [_rss_mib(p.pid) for p, _ in servers]
        before = _row_counts()

        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        print(
            f"{len(ids)} chargers -> {len(urls)} {args.server} process(es) on {database}, "
            f"channel layer: {layer}; {args.client_processes} client processes"
        )
        rss_connected: list[float] = []
        cpu_before: list[float] = []
        split_before: dict[str, Any] = {}

        if args.storm:
            # The storm is what is measured: profile the connects and boots, not the load.
            profiler = _start_profiler(args, servers, args.connect_deadline + 60)

        cpu_at_start = [_cpu_seconds(p.pid) for p, _ in servers]
        machine_at_start = _machine_cpu_seconds()
        machine_connect: list[tuple[float, float]] = []

        def connected() -> None:
            nonlocal profiler
            machine_connect.append(_machine_cpu_seconds())
            if profiler is not None and profiler.poll() is None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes what it has and stops
            if args.heartbeat_interval and not args.storm:
                # Held chargers: measure their calls once the servers have done the
                # connections' own work (boots, after-boot tasks, the message log), which
                # would otherwise be the first calls' latency (a storm measures that).
                quiet = _wait_until_quiet([p for p, _ in servers])
                print(f"servers quiet (< {SETTLED_CPU:.0%} of a core) after {quiet:.0f} s")
            rss_connected.extend(_rss_mib(p.pid) for p, _ in servers)
            cpu_before.extend(_cpu_seconds(p.pid) for p, _ in servers)
            if servers:
                split_before.update(_dependency_cpu(redis_url))
            print(
                f"connected (server's view): {_count_connected()}; server RSS {_fmt(rss_connected)}"
            )
            if not args.storm:
                profiler = _start_profiler(args, servers, args.duration)

        gathered = _run_clients(ids, urls, args, connected)
        rss_end = [_rss_mib(p.pid) for p, _ in servers]
        cpu_used = [_cpu_seconds(p.pid) - c for (p, _), c in zip(servers, cpu_before, strict=True)]
        split_after = _dependency_cpu(redis_url) if split_before else {}
        time.sleep(2)  # the message log is written in batches
        after = _row_counts()
        if profiler is not None:
            profiler.wait(60)
    finally:
        if profiler is not None and profiler.poll() is None:
            profiler.terminate()
        for process, _ in servers:
            process.terminate()
        for process, _ in servers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        if database_url and not args.url:
            from django.db import connections

            connections.close_all()
            _recreate_postgres(database_url, drop_only=True)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    calls_per_second = _print_load(gathered, ids, args)
    if args.storm and servers and machine_connect:
        # Who had the machine's CPU while the chargers connected: the clients share it.
        seconds = max(r["connect_seconds"] for r in gathered)
        busy = machine_connect[0][0] - machine_at_start[0]
        idle = machine_connect[0][1] - machine_at_start[1]
        server_cpu = [a - b for a, b in zip(cpu_before, cpu_at_start, strict=True)]
        client_cpu = sum(r["connect_cpu_seconds"] for r in gathered)
        print(
            f"connect phase CPU:   servers {' + '.join(f'{c:.1f}' for c in server_cpu)} s, "
            f"clients {client_cpu:.1f} s, machine busy {busy:.1f} s of "
            f"{busy + idle:.1f} s ({seconds:.1f} s x {os.cpu_count()} cores; the rest is "
            "PostgreSQL, Redis and other processes); server CPU per booted charger "
            f"{1000 * sum(server_cpu) / max(sum(r['connected'] for r in gathered), 1):.2f} ms"
        )
    if servers:
        load_seconds = max(r["load_seconds"] for r in gathered)
        print(
            f"server RSS MiB:      started {_fmt(rss_started)}, connected {_fmt(rss_connected)},"
            f" end of load {_fmt(rss_end)}"
        )
        grown = sum(rss_connected) - sum(rss_started)
        print(
            f"server RSS total:    {sum(rss_connected):.0f} MiB connected, {sum(rss_end):.0f} MiB"
            f" at the end; {1024 * grown / max(len(ids), 1):.0f} KiB per charger"
            " (connected minus started)"
        )
        if load_seconds >= 1:
            print(
                "server CPU:          "
                + ", ".join(f"{c / load_seconds:.0%}" for c in cpu_used)
                + " of one core during the load"
            )
        if split_after:
            _print_cpu_split(
                split_before,
                split_after,
                sum(cpu_used),
                sum(r["client_cpu_seconds"] for r in gathered),
                sum(r["answered"] for r in gathered),
            )
    print(
        "rows written:        "
        + ", ".join(f"{name} +{after[name] - before[name]}" for name in after)
    )
    if profiler is not None and args.profile.exists():
        print(f"top server functions by own time (py-spy, {args.profile}):")
        for frame, own, total in _top_functions(args.profile):
            print(f"    {own:5.1f}% own {total:5.1f}% total  {frame[:140]}")
    if args.compare_reference:
        reference = _run_reference(ids, args)
        print(
            f"ratio:               ChargeHub {calls_per_second:.0f} calls/s / reference "
            f"{reference:.0f} calls/s = {calls_per_second / max(reference, 1e-9):.2f}"
        )


def _run_clients(ids: list[str], urls: list[str], args: argparse.Namespace, connected) -> list:
    """Connect the chargers (spread over `urls`), call connected(), drive the load; the
    client processes' results."""
    charger_urls = [urls[i % len(urls)] for i in range(len(ids))]
    processes = max(1, min(args.client_processes, len(ids)))
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()
    ready = context.Event()
    go = context.Event()
    up: multiprocessing.Queue = context.Queue()
    progress: multiprocessing.Queue = context.Queue()
    workers = []
    for n in range(processes):
        offsets = list(range(n, len(ids), processes))
        job = {
            "ids": ids[n::processes],
            "urls": [charger_urls[i] for i in offsets],
            "rate": args.rate / processes,
            "duration": args.duration,
            "connect_rate": args.connect_rate / processes,
            "storm": args.storm,
            "idle_only": args.heartbeat_interval is not None,
            "call_timeout": args.call_timeout,
            "connect_attempts": args.connect_attempts,
            "connect_deadline": args.connect_deadline,
            "up": up,
            "go": go,
            "ready": ready,
            "progress": progress,
        }
        worker = context.Process(target=_client_process, args=(job, results), daemon=True)
        worker.start()
        workers.append(worker)
    for _ in workers:
        up.get(timeout=120)
    go.set()
    # Wait for every charger to have connected (or failed), then start the load.
    expected_connect = args.connect_deadline + 120
    for _ in workers:
        progress.get(timeout=expected_connect)
    connected()
    ready.set()
    gathered = [results.get(timeout=args.duration + expected_connect + 120) for _ in workers]
    for worker in workers:
        worker.join(30)
    return gathered


def _run_reference(ids: list[str], args: argparse.Namespace) -> float:
    """The same load against bench/ocpp_reference.py; its calls/s."""
    port = _free_port()
    print(
        f"--- reference (bench/ocpp_reference.py, nothing stored), load average "
        f"{os.getloadavg()[0]:.1f} at start"
    )
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "ocpp_reference.py"), "--port", str(port)],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("reference server did not start") from None
                time.sleep(0.2)
        cpu_before = _cpu_seconds(server.pid)
        gathered = _run_clients(ids, [f"ws://127.0.0.1:{port}"], args, lambda: None)
        cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(15)
    calls_per_second = _print_load(gathered, ids, args)
    load_seconds = max(r["load_seconds"] for r in gathered)
    if load_seconds >= 1:
        print(f"server CPU:          {cpu / load_seconds:.0%} of one core during the load")
    return calls_per_second


def _start_profiler(
    args: argparse.Namespace, servers: list, seconds: float
) -> "subprocess.Popen | None":
    if not (args.profile and servers):
        return None
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        print("note: py-spy not installed in the venv; no profile")
        return None
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "-p",
            str(servers[0][0].pid),
            "-d",
            str(int(seconds)),
            "-r",
            "100",
            "-f",
            "raw",
            "-o",
            str(args.profile),
            "--nonblocking",
            "--gil",  # only the thread holding the GIL: CPU, not threads queueing for it
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _print_load(gathered: list, ids: list[str], args: argparse.Namespace) -> float:
    """Print what the clients saw; the calls/s answered."""
    latencies = sorted(x for r in gathered for x in r["latencies"])
    errors: Counter[str] = Counter()
    for r in gathered:
        errors.update(r["errors"])
    sent = sum(r["sent"] for r in gathered)
    answered = sum(r["answered"] for r in gathered)
    load_seconds = max(r["load_seconds"] for r in gathered)
    ms = [1000 * _percentile(latencies, f) for f in (0.5, 0.95, 0.99)]
    connected = sum(r["connected"] for r in gathered)
    print(
        f"chargers connected:  {connected} / {len(ids)} "
        f"(in {max(r['connect_seconds'] for r in gathered):.1f} s); "
        f"still open at the end: {sum(r['still_open'] for r in gathered)}"
    )
    boots = sorted(x for r in gathered for x in r["boot_seconds"])
    still_trying = sum(r["still_trying"] for r in gathered)
    attempts = Counter(n for r in gathered for n in r["attempts"])
    if boots:
        print(
            f"booted (accepted):   {len(boots)}; seconds from the start: p50 "
            f"{_percentile(boots, 0.5):.1f}  p99 {_percentile(boots, 0.99):.1f}  "
            f"last {boots[-1]:.1f}; gave up: {len(ids) - connected - still_trying} "
            f"(after {args.connect_attempts} attempts); still trying at the "
            f"{args.connect_deadline:g} s deadline: {still_trying}"
        )
        print(
            "attempts to boot:    "
            + ", ".join(f"{n}: {attempts[n]}" for n in sorted(attempts))
            + " chargers"
        )
    calls_per_second = answered / args.duration if args.duration else 0.0
    print(f"calls sent/answered: {sent} / {answered} in {load_seconds:.1f} s")
    print(f"calls/s achieved:    {calls_per_second:.0f} (target {args.rate:g})")
    if latencies:
        print(
            f"latency ms:          p50 {ms[0]:.1f}  p95 {ms[1]:.1f}  p99 {ms[2]:.1f}  "
            f"max {1000 * latencies[-1]:.1f}  mean {1000 * statistics.fmean(latencies):.1f}"
        )
    _print_slow_calls(gathered)
    print(f"load average:        {os.getloadavg()[0]:.1f} at the end (other processes count)")
    print(f"errors:              {sum(errors.values())}")
    for text, count in errors.most_common(8):
        print(f"    {count:6d}  {text}")
    if load_seconds >= 1:
        client_cpu = sum(r["client_cpu_seconds"] for r in gathered) / load_seconds
        print(f"client CPU:          {client_cpu:.0%} of one core (all client processes)")
    return calls_per_second


def _print_slow_calls(gathered: list) -> None:
    """The calls over SLOW_CALL by server and the second of the load they were sent in:
    a tail that comes in bursts on one server is that process stalling, not the load."""
    bursts: Counter[tuple[str, int]] = Counter()
    worst: dict[tuple[str, int], float] = {}
    for r in gathered:
        for sent_at, latency, server in r["slow"]:
            key = (server.rsplit(":", 1)[1], int(sent_at))
            bursts[key] += 1
            worst[key] = max(worst.get(key, 0.0), latency)
    if not bursts:
        return
    total = sum(bursts.values())
    print(
        f"calls over {1000 * SLOW_CALL:.0f} ms:    {total}; the seconds with most "
        "(server port, second of the load: calls, slowest):"
    )
    for (port, second), count in sorted(bursts.most_common(8), key=lambda item: item[0][1]):
        print(f"    :{port} +{second} s: {count}, {1000 * worst[port, second]:.0f} ms")


def _wait_until_quiet(processes: list[subprocess.Popen], most: float = 120.0) -> float:
    """Wait until every process used less than SETTLED_CPU of a core over 2 s (at most
    `most` seconds); the seconds waited."""
    started = time.monotonic()
    cpu = [_cpu_seconds(p.pid) for p in processes]
    while time.monotonic() - started < most:
        time.sleep(2)
        now = [_cpu_seconds(p.pid) for p in processes]
        if all(b - a < 2 * SETTLED_CPU for a, b in zip(cpu, now, strict=True)):
            break
        cpu = now
    return time.monotonic() - started


def _count_connected() -> int:
    from stations.models import ChargePoint

    return ChargePoint.objects.filter(
        is_connected=True, charge_point_id__startswith="BENCH-"
    ).count()


def _fmt(values: list[float]) -> str:
    return " + ".join(f"{v:.0f}" for v in values) + " MiB" if values else "n/a"


if __name__ == "__main__":
    main()
