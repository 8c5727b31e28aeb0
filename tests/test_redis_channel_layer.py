"""chargehub.redis_channel_layer's group_send, on a Redis of the test's own: channels_redis's
delivery (members, expired memberships, full channels) in fewer round trips."""

import asyncio
import threading
import time

from channels.layers import get_channel_layer
from django.test import override_settings

from chargehub.redis_channel_layer import RedisChannelLayer
from stations import live
from tests.redis_servers import HungRedis, RedisServer, needs_redis_server
from tests.waiting import eventually, free_port

pytestmark = needs_redis_server

LAYER = "chargehub.redis_channel_layer.RedisChannelLayer"
MESSAGE = {"type": "live.update", "data": {"kind": "connector", "status": "Charging"}}


def layer_on(server: RedisServer, **options: object) -> RedisChannelLayer:
    return RedisChannelLayer(hosts=[{"address": server.url}], **options)


class RoundTrips:
    """The commands clients send to the server from now on (not those a Lua script runs
    inside it), read from MONITOR."""

    def __init__(self, server: RedisServer) -> None:
        self.marker = server.client()
        self.marker.ping()  # its connection opened before watching
        self.monitor = server.client().monitor()
        self.monitor.__enter__()

    def count(self) -> int:
        """Sent since the start, then stop watching."""
        self.marker.echo("counted")  # the marker: everything before it has run
        sent = 0
        while (command := self.monitor.next_command())["command"] != "ECHO counted":
            if command["client_type"] != "lua":
                sent += 1
        self.monitor.__exit__(None, None, None)
        return sent


async def test_a_group_nobody_is_in_costs_one_round_trip(redis_server):
    layer = layer_on(redis_server)
    await layer.group_send("live.stations", MESSAGE)  # the connection pool is made
    round_trips = RoundTrips(redis_server)
    await layer.group_send("live.stations", MESSAGE)
    assert round_trips.count() == 1
    await layer.close_pools()


async def test_a_group_with_members_costs_two_round_trips_and_reaches_each_member(
    redis_server,
):
    layer = layer_on(redis_server)
    local = await layer.new_channel()  # a channel of this process ("...!...")
    await layer.group_add("live.site.7", local)
    await layer.group_add("live.site.7", "portal.page")  # a plain channel
    await layer.group_add("live.site.8", "portal.elsewhere")

    round_trips = RoundTrips(redis_server)
    await layer.group_send("live.site.7", MESSAGE)
    assert round_trips.count() == 2

    assert await layer.receive(local) == MESSAGE
    assert await layer.receive("portal.page") == MESSAGE
    client = redis_server.client()
    assert client.zcard(layer.prefix + "portal.elsewhere") == 0
    await layer.close_pools()


async def test_an_expired_membership_gets_nothing_and_leaves_the_group(redis_server):
    layer = layer_on(redis_server, group_expiry=60)
    await layer.group_add("live.session.4", "page.current")
    await layer.group_add("live.session.4", "page.gone")
    # Joined two minutes ago and never renewed: past the group expiry.
    client = redis_server.client()
    client.zadd(layer._group_key("live.session.4"), {"page.gone": time.time() - 120})

    await layer.group_send("live.session.4", MESSAGE)

    assert await layer.receive("page.current") == MESSAGE
    assert client.zcard(layer.prefix + "page.gone") == 0
    assert client.zrange(layer._group_key("live.session.4"), 0, -1) == [b"page.current"]
    await layer.close_pools()


async def test_has_members_tells_a_thread_whether_a_group_send_would_reach_anyone(
    redis_server,
):
    layer = layer_on(redis_server, group_expiry=60)
    assert await asyncio.to_thread(layer.has_members, "live.session.4") is False
    await layer.group_add("live.session.4", "page.current")
    assert await asyncio.to_thread(layer.has_members, "live.session.4") is True
    assert await asyncio.to_thread(layer.has_members, "live.session.5") is False

    # One round trip: the question is asked on every MeterValues of a driver's session.
    round_trips = RoundTrips(redis_server)
    await asyncio.to_thread(layer.has_members, "live.session.4")
    assert round_trips.count() == 1

    await layer.group_discard("live.session.4", "page.current")
    assert await asyncio.to_thread(layer.has_members, "live.session.4") is False
    # Joined two minutes ago and never renewed: group_send would not reach it.
    client = redis_server.client()
    client.zadd(layer._group_key("live.session.4"), {"page.gone": time.time() - 120})
    assert await asyncio.to_thread(layer.has_members, "live.session.4") is False
    await layer.close_pools()


def test_a_redis_that_hangs_counts_as_watched_after_a_short_wait_of_its_own():
    """is_watched asks from a charger's database thread: a Redis that accepts and never
    answers must not hold the call for the layer's own read timeout (300 s here)."""
    with HungRedis() as hung:
        host = {"address": hung.url, "socket_timeout": 300, "timeout": 300}
        layers = {"default": {"BACKEND": LAYER, "CONFIG": {"hosts": [host]}}}
        with override_settings(CHANNEL_LAYERS=layers):
            answers: list[bool] = []
            asking = threading.Thread(
                target=lambda: answers.append(live.is_watched("live.session.4")), daemon=True
            )
            asking.start()
            asking.join(60)  # not a timing claim: without a wait of its own, 300 s
            assert answers == [True]


async def test_a_full_member_misses_the_message_and_the_others_still_get_it(redis_server):
    layer = layer_on(redis_server, capacity=1)
    await layer.group_add("live.network", "page.busy")
    await layer.group_add("live.network", "page.idle")
    await layer.send("page.busy", {"type": "live.update", "data": {"kind": "first"}})

    await layer.group_send("live.network", MESSAGE)

    assert await layer.receive("page.idle") == MESSAGE
    assert await layer.receive("page.busy") == {"type": "live.update", "data": {"kind": "first"}}
    client = redis_server.client()
    assert client.zcard(layer.prefix + "page.busy") == 0  # the group message never went in
    await layer.close_pools()


async def test_a_members_expired_messages_do_not_count_against_its_capacity(redis_server):
    layer = layer_on(redis_server, capacity=1, expiry=60)
    await layer.group_add("live.network", "page.slow")
    await layer.send("page.slow", {"type": "live.update", "data": {"kind": "stale"}})
    # Sent two minutes ago and never read: past the message expiry.
    client = redis_server.client()
    key = layer.prefix + "page.slow"
    (stale,) = client.zrange(key, 0, -1)
    client.zadd(key, {stale: time.time() - 120})

    await layer.group_send("live.network", MESSAGE)

    assert await layer.receive("page.slow") == MESSAGE
    await layer.close_pools()


async def test_joining_a_group_is_one_round_trip_and_the_membership_channels_redis_makes(
    redis_server,
):
    layer = layer_on(redis_server, group_expiry=600)
    await layer.group_send("ocpp.cp.CP-JOIN", MESSAGE)  # the connection pool is made
    round_trips = RoundTrips(redis_server)
    joined = time.time()
    await layer.group_add("ocpp.cp.CP-JOIN", "charger.one")
    # Every charger's connect joins its group: thousands at once in a storm.
    assert round_trips.count() == 1

    client = redis_server.client()
    key = layer._group_key("ocpp.cp.CP-JOIN")
    assert joined <= client.zscore(key, "charger.one") <= time.time()
    assert 590 <= client.ttl(key) <= 600
    await layer.group_send("ocpp.cp.CP-JOIN", MESSAGE)
    assert await layer.receive("charger.one") == MESSAGE
    await layer.close_pools()


async def test_a_batch_for_groups_nobody_is_in_costs_one_round_trip(redis_server):
    """A batch of live updates (stations/live.py), each to two or three groups, almost
    always with no page watching: one question to Redis for all of them."""
    layer = layer_on(redis_server)
    await layer.group_send("live.stations", MESSAGE)  # the connection pool is made
    sends = [
        (group, {"type": "live.update", "data": {"n": n}})
        for n in range(50)
        for group in ("live.stations", f"live.site.{n % 7}", "live.network")
    ]
    round_trips = RoundTrips(redis_server)
    await layer.group_send_many(sends)
    assert round_trips.count() == 1
    await layer.close_pools()


async def test_a_batch_reaches_each_member_once_in_the_order_sent_in_two_round_trips(
    redis_server,
):
    layer = layer_on(redis_server, capacity=1000)
    local = await layer.new_channel()  # a channel of this process ("...!...")
    await layer.group_add("live.stations", local)
    await layer.group_add("live.site.7", local)
    await layer.group_add("live.site.7", "portal.page")  # a plain channel
    sends = []
    for n in range(100):
        sends.append(("live.stations", {"type": "live.update", "data": {"n": n}}))
        sends.append((f"live.site.{7 + n % 2}", {"type": "live.update", "data": {"site": n}}))

    round_trips = RoundTrips(redis_server)
    await layer.group_send_many(sends)
    assert round_trips.count() == 2  # the members, then every message

    # In both groups: each group's messages in order, interleaved as sent.
    to_local = [message["data"] for group, message in sends if group != "live.site.8"]
    assert [(await layer.receive(local))["data"] for _ in to_local] == to_local
    to_page = [{"site": n} for n in range(0, 100, 2)]
    assert [(await layer.receive("portal.page"))["data"] for _ in to_page] == to_page
    client = redis_server.client()
    for channel in (local, "portal.page"):  # nothing twice
        assert client.zcard(layer.prefix + layer.non_local_name(channel)) == 0
    await layer.close_pools()


async def test_a_batch_fills_a_member_up_to_its_capacity_and_drops_the_rest(redis_server, caplog):
    layer = layer_on(redis_server, capacity=3)
    await layer.group_add("live.network", "page.slow")
    sends = [("live.network", {"type": "live.update", "data": {"n": n}}) for n in range(5)]

    await layer.group_send_many(sends)

    assert [(await layer.receive("page.slow"))["data"]["n"] for _ in range(3)] == [0, 1, 2]
    client = redis_server.client()
    assert client.zcard(layer.prefix + "page.slow") == 0  # 3 and 4 never went in
    assert caplog.text.count("1 of 1 channels over capacity in group live.network") == 2
    await layer.close_pools()


async def test_live_updates_relayed_together_go_to_redis_as_one_batch_in_order(redis_server):
    """The server loop's waiting updates (stations/live.py _send_waiting): one round trip
    for the members of all their groups, one for the watching page's messages."""
    layers = {"default": {"BACKEND": LAYER, "CONFIG": {"hosts": [{"address": redis_server.url}]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        layer = get_channel_layer()
        page = await layer.new_channel()
        await layer.group_add("live.site.3", page)
        round_trips = RoundTrips(redis_server)
        for n in range(30):  # as a server's database threads hand them over
            site = live.site_group(3 if n % 2 else 4)
            live._queue_update([live.STATIONS_GROUP, site], {"kind": "test", "n": n})
        assert await eventually(lambda: not live._waiting)
        assert round_trips.count() == 2

        received = [await asyncio.wait_for(layer.receive(page), 10) for _ in range(15)]
        assert [message["data"]["n"] for message in received] == list(range(1, 30, 2))
        await layer.close_pools()


async def test_a_batch_redis_refuses_is_dropped_with_one_line_and_later_ones_still_go(
    redis_server, caplog
):
    """Redis down: the waiting updates are lost (the pages' next load is right), logged
    once per batch, never raised; the next updates go out once Redis answers."""
    down = {"address": f"redis://127.0.0.1:{free_port()}/0"}
    with override_settings(
        CHANNEL_LAYERS={"default": {"BACKEND": LAYER, "CONFIG": {"hosts": [down]}}}
    ):
        for n in range(3):
            live._queue_update([live.STATIONS_GROUP, live.NETWORK_GROUP], {"n": n})
        assert await eventually(lambda: not live._waiting, timeout=30)
    assert caplog.text.count("Live update not sent") == 1
    assert "['live.network', 'live.stations'] (3 updates)" in caplog.text

    layers = {"default": {"BACKEND": LAYER, "CONFIG": {"hosts": [{"address": redis_server.url}]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        layer = get_channel_layer()
        page = await layer.new_channel()
        await layer.group_add(live.STATIONS_GROUP, page)
        live._queue_update([live.STATIONS_GROUP], {"n": 3})
        assert (await asyncio.wait_for(layer.receive(page), 10))["data"] == {"n": 3}
        await layer.close_pools()


async def test_batches_sent_within_the_same_microsecond_reach_a_member_in_order(
    redis_server, monkeypatch
):
    layer = layer_on(redis_server, capacity=1000)
    await layer.group_add("live.network", "page.fast")
    # The clock does not move between the two batches (a coarse clock, or a fast Redis).
    frozen = time.time()
    monkeypatch.setattr(time, "time", lambda: frozen)
    first = [("live.network", {"type": "live.update", "data": {"n": n}}) for n in range(3)]
    second = [("live.network", {"type": "live.update", "data": {"n": n}}) for n in range(3, 6)]

    await layer.group_send_many(first)
    await layer.group_send_many(second)

    client = redis_server.client()
    members = client.zrange(layer.prefix + "page.fast", 0, -1, withscores=True)
    scores = [score for _, score in members]
    assert len(set(scores)) == 6  # no two equal: Redis would pop equals in any order
    monkeypatch.undo()
    assert [(await layer.receive("page.fast"))["data"]["n"] for _ in range(6)] == list(range(6))
    await layer.close_pools()
