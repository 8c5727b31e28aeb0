"""Commands and live updates sent from sync code (a Celery task, a batch's threads) share
one channel layer.

Each send_sync used to run in an event loop of its own, with a channel layer and Redis
connections of its own: a connection opened and closed per command. On the process's
sending loop they reuse the same few. Counted on a Redis of the test's own, which only
this test and its server use: after the first, commands one after another open none,
and rounds of eight at once stop opening any once the pools have grown to eight.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.db import connections
from django.test import override_settings
from ocpp.v16 import call
from redis import Redis

from stations import live
from stations.ocpp import commands
from tests.redis_servers import RedisServer, needs_redis_server

pytestmark = needs_redis_server


def clear_cache(charge_point_id: str) -> str:
    """What a Celery task's thread does: send, then let its database connection go."""
    try:
        return commands.send_sync(charge_point_id, call.ClearCache(), timeout=10).status
    finally:
        connections.close_all()


def connections_opened(redis: Redis) -> int:
    return redis.info("stats")["total_connections_received"]


async def test_commands_from_sync_code_reuse_the_processes_redis_connections(
    charger: Callable[..., Any], server_on_redis: str, redis_server: RedisServer
):
    cp_id = "SYNC-SENDER"
    loop = asyncio.get_running_loop()
    counter = redis_server.client()  # one connection of its own, opened once
    async with charger(cp_id, server=server_on_redis) as cp:
        await cp.boot()
        # Plain threads, as a Celery worker's (no event loop above them).
        with ThreadPoolExecutor(8) as pool:

            async def side_by_side(count: int) -> list[str]:
                return await asyncio.gather(
                    *(loop.run_in_executor(pool, clear_cache, cp_id) for _ in range(count))
                )

            # Warm: the server's connections and the sending loop's are open.
            assert await side_by_side(8) == ["Accepted"] * 8
            before = connections_opened(counter)
            for _ in range(10):  # one after another, as a task does
                assert await side_by_side(1) == ["Accepted"]
            one_by_one = connections_opened(counter) - before
            # Eight at once may find the pools smaller than eight (the warm round's
            # commands did not all overlap): they grow to what runs at once, then stop.
            opened_per_round: list[int] = []
            while len(opened_per_round) < 10 and 0 not in opened_per_round:
                before = connections_opened(counter)
                assert await side_by_side(8) == ["Accepted"] * 8
                opened_per_round.append(connections_opened(counter) - before)
        # Each command used to open (and close) connections of its own: 10, and 8 a round.
        assert one_by_one <= 1, f"{one_by_one} opened one after another"
        assert opened_per_round[-1] == 0, f"opened at each round of 8: {opened_per_round}"
        assert len([a for a, _ in cp.received if a == "ClearCache"]) == 18 + 8 * len(
            opened_per_round
        )


def test_live_updates_from_sync_code_reuse_the_processes_redis_connections(
    redis_server: RedisServer,
):
    """A portal update sent from a Celery task (stations/live.py relay) used to open a
    Redis connection of its own too: 10 updates opened 10."""
    layer = {
        "BACKEND": "chargehub.redis_channel_layer.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": redis_server.url, "socket_timeout": 20}]},
    }
    counter = redis_server.client()

    async def watch_and_relay() -> tuple[int, list[dict]]:
        page = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)  # a page's, in a server
        channel = await page.new_channel()
        await page.group_add(live.STATIONS_GROUP, channel)
        update = {"kind": "connector", "status": "Available"}
        await asyncio.to_thread(live.relay, [live.STATIONS_GROUP], update)  # warm
        before = connections_opened(counter)
        for _ in range(10):  # one after another, each from a plain thread as a task's
            await asyncio.to_thread(live.relay, [live.STATIONS_GROUP], update)
        opened = connections_opened(counter) - before
        received = [await page.receive(channel) for _ in range(11)]
        await page.close_pools()
        return opened, received

    with override_settings(CHANNEL_LAYERS={"default": layer}):
        opened, received = asyncio.run(watch_and_relay())
    assert opened <= 1, f"{opened} opened"
    assert (
        received
        == [{"type": "live.update", "data": {"kind": "connector", "status": "Available"}}] * 11
    )
