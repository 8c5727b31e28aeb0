"""Shared fixtures: a real OCPP server process, and chargers that connect to it.

`ocpp_server` runs `manage.py serve` (daphne, the production entry point) in a
subprocess on the test database; the tests of what the server itself decides run against
uvicorn too (`each_server`). Tests talk to it as chargers do, over real WebSockets,
and send commands from the test process, i.e. from another process than the one that
holds the charger's socket, as a web request or a Celery task would.
"""

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Permission
from django.core.management.base import CommandError
from django.db import OperationalError
from django.test import Client, TransactionTestCase, override_settings
from django.utils import translation
from websockets.asyncio.client import connect

from chargehub.servers import SERVERS
from stations.models import ChargePoint
from tests.charger import SimulatedCharger
from tests.mail import mail_to_files
from tests.redis_servers import RedisServer
from tests.waiting import eventually, free_port, wait_for_port
from users.models import User

__all__ = ["eventually"]  # tests import it from here; it lives in tests/waiting.py

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-staple"
_user_numbers = count(1)


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    auth = f"{user}:{db['PASSWORD']}" if db.get("PASSWORD") else user
    return (
        f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


@pytest.fixture(scope="session", autouse=True)
def channel_layer_file(tmp_path_factory: Any) -> Iterator[None]:
    """One embedded channel layer file per run, shared by this process and the servers.

    No stale rows from an earlier run, no crosstalk with `make run` or another run on
    var/. Servers and other subprocesses get it through the environment (server_env).
    """
    layers = settings.CHANNEL_LAYERS
    if layers["default"]["BACKEND"] != "chargehub.channel_layer.SQLiteChannelLayer":
        yield
        return
    path = str(tmp_path_factory.mktemp("channels") / "channels.sqlite3")
    default = {**layers["default"], "CONFIG": {**layers["default"]["CONFIG"], "path": path}}
    with (
        pytest.MonkeyPatch.context() as patch,
        override_settings(CHANNEL_LAYERS={"default": default}),
    ):
        patch.setenv("CHARGEHUB_CHANNEL_LAYER", path)
        yield


def server_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "OCPP_HEARTBEAT_INTERVAL": "60",
        "OCPP_MAX_FRAME_BYTES": str(16 * 1024),
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "1",
        # A server's Celery tasks (settling a session) run in it, as a worker would.
        "CELERY_TASK_ALWAYS_EAGER": "1",
        # A run starts a few dozen servers that live to its end: idle, they must not
        # hold connections, or PostgreSQL runs out of them (max_connections, 100).
        "DATABASE_CONN_MAX_AGE": "0",
        # Tests make webhook endpoints in their own process, which a server hears of only
        # after WEBHOOKS_LISTENING_TTL: a server shared by the run reads them every time.
        "WEBHOOKS_LISTENING_TTL": "0",
        # Likewise tariffs with an idle fee (billing/tariffs.py any_idle_fee).
        "BILLING_IDLE_FEES_TTL": "0",
        **extra,
    }
    return env


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """Each test starts in the default language.

    A page asked for in Swedish leaves Swedish active in the test's thread (the test
    client runs LocaleMiddleware there, which never switches back).
    """
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def fresh_process_caches() -> None:
    """Each test starts with this process's caches keyed by primary key empty: SQLite
    hands a rolled-back test's keys out again, so a session remembered by an earlier
    test would be taken for the next test's."""
    from billing import tariffs
    from notifications import webhooks
    from operations import faults

    faults.forget_values_heard()
    webhooks.forget_listening()
    tariffs.forget_idle_fees()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """On PostgreSQL, the message log and samples partitioned by month as in production.

    The test database is built from the models (--no-migrations), so the migration that
    partitions them (stations 0019) does not run: its function does, here.
    """
    from django.db import connection

    from stations import partitions

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql" and not partitions.enabled():
            with connection.schema_editor() as schema_editor:
                for table in partitions.PARTITIONED:
                    partitions.partition_table(schema_editor, table)


@pytest.fixture(scope="session", autouse=True)
def short_lived_database_connections(django_db_setup: None) -> None:
    """Close this process's connections after each use.

    Commands sent from tests do their ORM work on worker threads; kept alive
    (CONN_MAX_AGE), those connections would stop PostgreSQL from dropping the test
    database at the end of the run. All threads' connections share this settings dict.
    """
    from django.db import connections

    connections.settings["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(scope="session", autouse=True)
def celery_tasks_run_inline() -> Iterator[None]:
    """Tasks queued by the code under test run at once, here (no worker in tests)."""
    from chargehub.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(scope="session", autouse=True)
def plain_http() -> Iterator[None]:
    """The test client and the test servers speak plain http, so they are not redirected to
    https, as they would be without DEBUG (SECURE_SSL_REDIRECT): the one place that turns it
    off. tests/test_security_settings.py turns it on again to test it."""
    with (
        pytest.MonkeyPatch.context() as patch,
        override_settings(SECURE_SSL_REDIRECT=False),
    ):
        patch.setenv("SECURE_SSL_REDIRECT", "0")
        yield


@pytest.fixture(scope="session", autouse=True)
def admin_without_second_factor() -> Iterator[None]:
    """Admin tests log staff in with force_login and no second factor; the rule that staff
    need one (ADMIN_REQUIRE_MFA) has its own tests in tests/users/test_admin_mfa.py."""
    with override_settings(ADMIN_REQUIRE_MFA=False):
        yield


class FewRoundsPasswordHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2 with one round: a hash costs microseconds instead of seconds.

    Same algorithm name: a hash records its rounds, so the servers (full rounds) still
    verify the passwords of people created here.
    """

    iterations = 1


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashing() -> Iterator[None]:
    """People created by tests get their password hashed in one round (Django's advice for
    faster tests); charger passwords keep their own hasher."""
    quick = f"{__name__}.{FewRoundsPasswordHasher.__name__}"
    hashers = [
        quick if hasher == "django.contrib.auth.hashers.PBKDF2PasswordHasher" else hasher
        for hasher in settings.PASSWORD_HASHERS
    ]
    with override_settings(PASSWORD_HASHERS=hashers):
        yield


@pytest.fixture(scope="session", autouse=True)
def flush_tried_again_after_a_deadlock() -> Iterator[None]:
    """A transactional test's teardown TRUNCATEs every table while a server process may
    still write what a charger's last moments left (its disconnect, the message log);
    PostgreSQL then aborts one of the two as a deadlock. When it aborts the TRUNCATE, it
    is tried again: it then waits for the server's write to commit, as it would have."""
    flush = TransactionTestCase._fixture_teardown

    def teardown(self: TransactionTestCase) -> None:
        for attempt in range(3):
            try:
                return flush(self)
            except CommandError as error:
                deadlock = isinstance(error.__cause__, OperationalError) and (
                    "deadlock" in str(error.__cause__)
                )
                if not deadlock or attempt == 2:
                    raise

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", teardown)
        yield


@pytest.fixture(scope="session", autouse=True)
def no_configuration_read_at_boot() -> Iterator[None]:
    """The beat task's configuration reads (fleet) count a boot only where a test asks
    for it: elsewhere a freshly booted charger is not due for one."""
    with override_settings(FLEET_READ_CONFIGURATION_AT_BOOT=False):
        yield


@pytest.fixture(scope="session")
def start_server(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[Callable[..., str]]:
    """Start `manage.py serve` processes on the test database; returns their base URL.

    `start("--tls-port", "8443", OCPP_TLS_CERTIFICATE=...)`: arguments go to serve."""
    processes: list[subprocess.Popen[bytes]] = []
    logs = tmp_path_factory.mktemp("server-logs")

    def start(*arguments: str, **env: str) -> str:
        port = free_port()
        log_path = logs / f"server-{port}.log"
        log = open(log_path, "wb")
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), *arguments],
            cwd=ROOT,
            env=server_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        wait_for_port(port, process, log_path)
        return f"ws://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def served_by(start_server: Callable[..., str]) -> Callable[[str], str]:
    """The run's shared server of each kind ("daphne", "uvicorn"), started when first asked."""
    urls: dict[str, str] = {}

    def url(server: str) -> str:
        if server not in urls:
            urls[server] = start_server("--server", server)
        return urls[server]

    return url


@pytest.fixture(scope="session")
def ocpp_server(served_by: Callable[[str], str]) -> str:
    return served_by("daphne")


@pytest.fixture(params=SERVERS)
def server_kind(request: Any) -> str:
    """ "daphne", then "uvicorn": a test asking for it runs once for each."""
    return request.param


@pytest.fixture
def each_server(server_kind: str, served_by: Callable[[str], str]) -> str:
    """Each server in turn, for tests of what the server itself decides (frame size,
    subprotocols, close codes, refusals, hostile input): a module overrides `ocpp_server`
    with it, or a test passes it to `charger(server=...)`."""
    return served_by(server_kind)


@pytest.fixture(scope="session")
def start_mail_server(
    start_server: Callable[..., str], tmp_path_factory: Any
) -> Callable[..., tuple[str, Path]]:
    """Start a server that writes its email to files (read them with tests/mail.py);
    returns its URL and its mail folder."""

    def start(**env: str) -> tuple[str, Path]:
        mail = tmp_path_factory.mktemp("mail")
        return start_server(**mail_to_files(mail), **env), mail

    return start


@pytest.fixture
def db_access(transactional_db: None) -> None:
    """The server is another process: tests commit their data (transactional_db)."""


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """Create users: `make_user("stations.view_chargepoint", is_staff=True)`.

    Each gets a fresh email address unless `email=` is given, and the password "pw".
    """

    def make(*permissions: str, **fields: Any) -> User:
        email = fields.pop("email", None) or f"user{next(_user_numbers)}@example.com"
        user = User.objects.create_user(email, "pw", **fields)
        for permission in permissions:
            app_label, codename = permission.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return make


@pytest.fixture
def driver_language() -> str:
    """The `driver`'s language: a new account's default; a folder overrides it here."""
    return User._meta.get_field("language").default


@pytest.fixture
def driver(make_user: Callable[..., User], driver_language: str) -> User:
    return make_user(language=driver_language)


@pytest.fixture
def driver_client(driver: User) -> Client:
    """The portal as the `driver` sees it, logged in."""
    client = Client()
    client.force_login(driver)
    return client


def register(charge_point_id: str, password: str | None = PASSWORD, **fields: Any) -> ChargePoint:
    charge_point = ChargePoint(charge_point_id=charge_point_id, **fields)
    if password:
        charge_point.set_password(password)
    charge_point.save()
    return charge_point


def basic_auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def charger(ocpp_server: str, db_access: None, request: Any) -> Callable[..., Any]:
    """Connect a simulated charger: `async with charger("CP-1") as cp: ...`.

    Registers the charge point (with PASSWORD) unless `register=False`.
    """

    @asynccontextmanager
    async def connect_charger(
        charge_point_id: str | None = None,
        *,
        password: str | None = PASSWORD,
        registered: bool = True,
        subprotocols: tuple[str, ...] = ("ocpp1.6",),
        server: str | None = None,
        **fields: Any,
    ) -> AsyncIterator[SimulatedCharger]:
        cp_id = charge_point_id or request.node.name[:40].replace("[", "-").replace("]", "")
        if (
            registered
            and not await sync_to_async(ChargePoint.objects.filter(charge_point_id=cp_id).exists)()
        ):
            await sync_to_async(register)(cp_id, password, **fields)
        headers = basic_auth(cp_id, password) if password else {}
        async with connect(
            f"{server or ocpp_server}/ocpp/{cp_id}",
            subprotocols=list(subprotocols),
            additional_headers=headers,
            open_timeout=10,
        ) as websocket:
            cp = SimulatedCharger(cp_id, websocket)
            task = asyncio.create_task(cp.start())
            try:
                yield cp
            finally:
                task.cancel()

    return connect_charger


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of the test's own (tests/redis_servers.py), removed after it."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.remove()
