"""A Redis outage under a running server: the chargers stay connected.

The server uses a Redis started by the test, which stops it and starts it again (empty,
as after a crash). Meanwhile the charger's calls are handled and stored, commands fail
cleanly with "channel layer unavailable", and once Redis is back the server joins the
charger's group again, so commands reach the charger without it reconnecting.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from stations import operations
from stations.models import ChargePoint, MeterSample
from stations.ocpp import commands
from tests.redis_servers import RedisServer, needs_redis_server
from tests.waiting import eventually


def meter_values(wh: int) -> Any:
    return call.MeterValues(
        connector_id=1,
        meter_value=[
            {
                "timestamp": datetime.now(UTC).isoformat(),
                "sampled_value": [{"value": str(wh), "unit": "Wh"}],
            }
        ],
    )


def command_gets_through(charge_point_id: str) -> bool:
    try:
        answer = commands.send_sync(charge_point_id, call.ClearCache(), timeout=5)
        return answer.status == "Accepted"
    except (commands.ChannelLayerUnavailable, commands.ChargerOffline):
        return False


@needs_redis_server
async def test_a_redis_restart_drops_no_charger_and_commands_reach_it_again_after(
    charger: Callable[..., Any], server_on_redis: str, redis_server: RedisServer
):
    cp_id = "REDIS-OUTAGE"
    async with charger(cp_id, server=server_on_redis) as cp:
        await cp.boot()
        assert (await commands.send(cp_id, call.ClearCache(), timeout=10)).status == "Accepted"
        before = await sync_to_async(ChargePoint.objects.get)(charge_point_id=cp_id)

        redis_server.stop()

        # The charger's calls are handled and stored as ever.
        assert (await cp.call(call.Heartbeat())).current_time
        await cp.call(meter_values(1234))
        assert await sync_to_async(
            MeterSample.objects.filter(charge_point__charge_point_id=cp_id, value="1234").exists
        )()
        # A command fails at once, and says why.
        with pytest.raises(commands.ChannelLayerUnavailable, match="channel layer unavailable"):
            await commands.send(cp_id, call.ClearCache(), timeout=10)

        redis_server.start()  # empty: every group membership is gone

        assert await eventually(lambda: command_gets_through(cp_id), timeout=30)
        assert (await cp.call(call.Heartbeat())).current_time
        # Read while connected: a closed connection leaves the charger to none.
        after = await sync_to_async(ChargePoint.objects.get)(charge_point_id=cp_id)
    assert after.connection_id == before.connection_id  # the same socket all along


def test_a_command_the_channel_layer_could_not_carry_is_a_503_with_a_message():
    failure = operations.command_failure(
        commands.ChannelLayerUnavailable("Reset not sent to CP-1: channel layer unavailable")
    )
    assert failure.status == 503
    assert str(failure.message) == (
        "The way to the chargers is down for a moment; please try again shortly."
    )
