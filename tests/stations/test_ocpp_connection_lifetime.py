"""A charger stays connected for weeks; the commands path must outlive channel-layer expiry."""

import asyncio

import pytest
from django.conf import settings
from django.test import override_settings
from ocpp.v16 import call

from stations.ocpp import commands

SHORT_GROUP_EXPIRY = 3  # seconds; production uses a day (CHANNEL_GROUP_EXPIRY)


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
        await cp.boot()
        # Outlive the group membership taken on connect, talking as chargers do.
        for _ in range(SHORT_GROUP_EXPIRY * 2):
            await cp.call(call.Heartbeat())
            await asyncio.sleep(1)

        answer = await commands.send("CP-LONG-LIVED", call.ClearCache(), timeout=5)

    assert answer.status == "Accepted"


async def test_idle_charger_is_still_served_after_the_channel_layer_poll_timeout(charger):
    # The consumer's channel-layer receive blocks ~5 s at a time (channels_redis
    # BZPOPMIN); an idle charger must survive many of those rounds.
    async with charger("CP-IDLE") as cp:
        await cp.boot()
        await asyncio.sleep(12)

        heartbeat = await cp.call(call.Heartbeat())
        answer = await commands.send("CP-IDLE", call.ClearCache(), timeout=5)

    assert heartbeat.current_time
    assert answer.status == "Accepted"
