"""Redis behind Sentinel (REDIS_SENTINELS): a failover of the master under a running server.

The test starts its own master, a replica and a sentinel, and a server that finds the
master through the sentinels (the first one listed is down, as a sentinel may be). The
master is killed; the sentinel promotes the replica, and the server's channel layer
follows it: the charger stays connected, its frames are stored throughout, and commands
reach it again without it reconnecting. Celery's broker finds the master the same way.
"""

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from ocpp.v16 import call

from stations.models import ChargePoint, MeterSample
from stations.ocpp import commands
from tests.conftest import ROOT, server_env
from tests.redis_servers import RedisSentinel, RedisServer, needs_redis_server
from tests.stations.test_redis_outage import command_gets_through, meter_values
from tests.waiting import eventually, free_port, wait_until

pytestmark = needs_redis_server

MASTER_NAME = "chargehub"


class SentinelSetup:
    """A master, its replica and a sentinel watching them; with `password` the master and
    its replica ask for it, with `sentinel_password` the sentinel asks for that."""

    def __init__(self, folder: Path, password: str = "", sentinel_password: str = "") -> None:
        self.master = RedisServer(password=password)
        auth = ("--masterauth", password) if password else ()
        self.replica = RedisServer(
            "--replicaof", "127.0.0.1", str(self.master.port), *auth, password=password
        )
        self.sentinel = RedisSentinel(folder, self.master, MASTER_NAME, sentinel_password)
        # The first sentinel listed answers nothing: clients go on to the next.
        self.sentinels = f"127.0.0.1:{free_port()},127.0.0.1:{self.sentinel.port}"

    def start(self) -> None:
        self.master.start()
        self.replica.start()
        assert wait_until(self.replica_in_sync, timeout=30)
        self.sentinel.start()
        # A failover needs a replica the sentinel knows of (from the master's INFO).
        assert wait_until(self.sentinel.knows_replicas, timeout=30)

    def replica_in_sync(self) -> bool:
        return self.replica.client().info("replication").get("master_link_status") == "up"

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.master):
            server.remove()


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[SentinelSetup]:
    setup = SentinelSetup(tmp_path)
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()


@pytest.fixture
def server_on_sentinel(
    start_server: Callable[..., str], sentinel_setup: SentinelSetup
) -> Iterator[str]:
    """A server configured as production is for Sentinel, and this process's layer too."""
    url = start_server(
        REDIS_URL="", REDIS_SENTINELS=sentinel_setup.sentinels, REDIS_SENTINEL_MASTER=MASTER_NAME
    )
    sentinels = [
        ("127.0.0.1", int(s.rsplit(":", 1)[1])) for s in sentinel_setup.sentinels.split(",")
    ]
    layer = {
        "BACKEND": "chargehub.redis_channel_layer.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "sentinels": sentinels,
                    "master_name": MASTER_NAME,
                    "sentinel_kwargs": {"socket_timeout": 2, "socket_connect_timeout": 2},
                    "socket_timeout": 20,
                }
            ]
        },
    }
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        yield url


async def test_a_sentinel_failover_drops_no_charger_and_commands_follow_the_new_master(
    charger: Callable[..., Any], server_on_sentinel: str, sentinel_setup: SentinelSetup
):
    cp_id = "SENTINEL-FAILOVER"
    async with charger(cp_id, server=server_on_sentinel) as cp:
        await cp.boot()
        assert (await commands.send(cp_id, call.ClearCache(), timeout=10)).status == "Accepted"
        before = await sync_to_async(ChargePoint.objects.get)(charge_point_id=cp_id)

        sentinel_setup.master.kill()
        # The charger's frames are handled and stored while the sentinel fails over.
        await cp.call(meter_values(1111))
        assert await eventually(
            lambda: sentinel_setup.sentinel.master_port() == sentinel_setup.replica.port,
            timeout=60,
        )
        await cp.call(meter_values(2222))
        stored = MeterSample.objects.filter(charge_point__charge_point_id=cp_id)
        assert await sync_to_async(set)(stored.values_list("value", flat=True)) >= {"1111", "2222"}

        # The layers on both sides follow the new master: commands reach the charger again.
        assert await eventually(lambda: command_gets_through(cp_id), timeout=60)
        assert (await cp.call(call.Heartbeat())).current_time
        # Read while connected: a closed connection leaves the charger to none.
        after = await sync_to_async(ChargePoint.objects.get)(charge_point_id=cp_id)
    assert after.connection_id == before.connection_id  # the same socket all along


def test_celery_queues_tasks_on_the_master_the_sentinels_name(sentinel_setup: SentinelSetup):
    """Celery's broker (kombu's sentinel:// transport, from the same settings) writes to
    the master the sentinels point at, past the sentinel that does not answer."""
    queued = subprocess.run(
        [
            *(sys.executable, "manage.py", "shell", "-c"),
            "from stations.tasks import prune_message_log; prune_message_log.delay()",
        ],
        cwd=ROOT,
        env=server_env(
            REDIS_URL="",
            REDIS_SENTINELS=sentinel_setup.sentinels,
            REDIS_SENTINEL_MASTER=MASTER_NAME,
            CELERY_TASK_ALWAYS_EAGER="0",
        ),
        capture_output=True,
        timeout=120,
    )
    assert queued.returncode == 0, queued.stderr.decode()
    assert sentinel_setup.master.client().llen("celery") == 1


# Characters a URL would take apart: the broker's sentinel:// URLs quote it.
MASTER_PASSWORD = "m@ster:pass/word"
SENTINEL_PASSWORD = "sentinel-secret"


@pytest.fixture
def protected_setup(tmp_path: Path) -> Iterator[SentinelSetup]:
    setup = SentinelSetup(tmp_path, MASTER_PASSWORD, SENTINEL_PASSWORD)
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()


SENT_FROM_ANOTHER_PROCESS = """
from django.core.cache import cache
from ocpp.v16 import call
from stations.ocpp import commands
from stations.tasks import prune_message_log
print(commands.send_sync("SENTINEL-PASSWORD", call.ClearCache(), timeout=10).status)
prune_message_log.delay()
cache.set("counted", "through the sentinels", 60)
print(cache.get("counted"))
"""


async def test_a_master_with_a_password_and_its_own_databases_carries_commands_tasks_and_cache(
    charger: Callable[..., Any], start_server: Callable[..., str], protected_setup: SentinelSetup
):
    """REDIS_SENTINEL_DB, the master's and the sentinels' passwords, CACHE_SENTINEL_DB: the
    channel layer (a command from another process), Celery's broker and Django's cache all
    reach the master through the sentinels, each in its database."""
    env = {
        "REDIS_URL": "",
        "REDIS_SENTINELS": protected_setup.sentinels,
        "REDIS_SENTINEL_MASTER": MASTER_NAME,
        "REDIS_SENTINEL_DB": "5",
        "REDIS_SENTINEL_MASTER_PASSWORD": MASTER_PASSWORD,
        "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
        "CACHE_SENTINEL_DB": "6",
    }
    url = start_server(**env)
    async with charger("SENTINEL-PASSWORD", server=url) as cp:
        await cp.boot()
        sent = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", SENT_FROM_ANOTHER_PROCESS],
            cwd=ROOT,
            env=server_env(CELERY_TASK_ALWAYS_EAGER="0", **env),
            capture_output=True,
            timeout=120,
        )
        assert sent.returncode == 0, sent.stderr.decode()
        assert sent.stdout.decode().split() == ["Accepted", "through", "the", "sentinels"]
        assert ("ClearCache", {}) in cp.received
        master = protected_setup.master
        assert master.client(5).keys("asgi:group:*")  # the charger's group, in database 5

    assert master.client(5).llen("celery") == 1
    assert master.client(6).exists(":1:counted")
    assert master.client(0).dbsize() == 0
