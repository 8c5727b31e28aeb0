"""A charger stays connected for weeks; the commands path must outlive channel-layer expiry."""

import os
import time

import pytest
from channels_redis.core import RedisChannelLayer
from daphne.cli import CommandLineInterface
from django.conf import settings
from django.test import override_settings
from ocpp.v16 import call
from redis import Redis

from chargehub.servers import daphne_arguments
from stations.ocpp import commands
from tests.waiting import eventually

SHORT_GROUP_EXPIRY = 1  # seconds, the least there is; production uses a day


@pytest.fixture(scope="session")
def short_expiry_server(start_server):
    return start_server(CHANNEL_GROUP_EXPIRY=str(SHORT_GROUP_EXPIRY))


@pytest.fixture
def short_expiry_layer():
    """This process's layer with the same short expiry (channels_redis prunes expired
    members on the sending side, in group_send)."""
    default = settings.CHANNEL_LAYERS["default"]
    config = {**default["CONFIG"], "group_expiry": SHORT_GROUP_EXPIRY}
    with override_settings(CHANNEL_LAYERS={"default": {**default, "CONFIG": config}}):
        yield


async def test_charger_connected_longer_than_group_expiry_still_receives_commands(
    charger, short_expiry_server, short_expiry_layer
):
    async with charger("CP-LONG-LIVED", server=short_expiry_server) as cp:
        joined_by = time.monotonic()  # the consumer joined its group while connecting
        await cp.boot()
        # Outlive the group membership taken on connect, talking as chargers do.
        while time.monotonic() <= joined_by + SHORT_GROUP_EXPIRY:
            await cp.call(call.Heartbeat())

        answer = await commands.send("CP-LONG-LIVED", call.ClearCache(), timeout=5)

    assert answer.status == "Accepted"


class BlockingPops:
    """Counts, per Redis client of the test database, the channel-layer receives
    (channels_redis's blocking BZPOPMIN) that ran out: one issued again has idled 0 s."""

    def __init__(self) -> None:
        self.redis = Redis.from_url(os.environ["REDIS_URL"])
        self.db = str(self.redis.get_connection_kwargs()["db"])
        self.idle: dict[str, int] = {}
        self.timed_out: dict[str, int] = {}

    def most_timed_out(self) -> int:
        for client in self.redis.client_list():
            if client["cmd"] != "bzpopmin" or client["db"] != self.db:
                continue
            idle, previous = int(client["idle"]), self.idle.get(client["id"])
            if previous is not None and idle < previous:
                self.timed_out[client["id"]] = self.timed_out.get(client["id"], 0) + 1
            self.idle[client["id"]] = idle
        return max(self.timed_out.values(), default=0)


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="the embedded channel layer polls its file and has no blocking receive to outlive",
)
async def test_idle_charger_is_still_served_after_the_channel_layer_poll_timeout(charger):
    # The consumer's channel-layer receive blocks ~5 s at a time (channels_redis
    # BZPOPMIN); an idle charger must survive many of those rounds.
    pops = BlockingPops()
    async with charger("CP-IDLE") as cp:
        await cp.boot()
        # The only blocking receive on the test database now is this charger's consumer.
        rounds = await eventually(
            lambda: pops.most_timed_out() >= 2, timeout=4 * RedisChannelLayer.brpop_timeout
        )
        assert rounds, pops.timed_out

        heartbeat = await cp.call(call.Heartbeat())
        answer = await commands.send("CP-IDLE", call.ClearCache(), timeout=5)

    assert heartbeat.current_time
    assert answer.status == "Accepted"


def test_serve_lets_a_charger_stay_connected_longer_than_a_day():
    # Daphne closes every WebSocket after 86400 s unless told otherwise.
    arguments = CommandLineInterface().parser.parse_args(daphne_arguments("127.0.0.1", 8000))

    assert arguments.websocket_timeout == -1
    assert arguments.ping_interval == 60  # dead sockets are still found
