"""The embedded channel layer (chargehub/channel_layer.py): the Channels contract, across
event loops and across processes, on a SQLite file of the test's own.

Two layer objects on one file behave like two processes: each has its own inboxes, so
everything between them goes through the file. The true two-process test runs
tests/channel_layer_peer.py in a subprocess.
"""

import asyncio
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull

from chargehub.channel_layer import SQLiteChannelLayer
from tests.waiting import eventually

PEER = Path(__file__).resolve().parent / "channel_layer_peer.py"
# A safety net against a hanging test, not a measured time.
WAIT = 10


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "channels.sqlite3"


@pytest.fixture
def layer(path: Path) -> SQLiteChannelLayer:
    return SQLiteChannelLayer(path=str(path))


@pytest.fixture
def other_process(path: Path) -> SQLiteChannelLayer:
    """The same file seen from another process."""
    return SQLiteChannelLayer(path=str(path))


async def receive(layer: SQLiteChannelLayer, channel: str) -> dict:
    return await asyncio.wait_for(layer.receive(channel), WAIT)


def rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


# --- send, receive, new_channel ------------------------------------------------------------


async def test_a_message_sent_to_a_channel_of_this_process_is_received(layer):
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "hello", "n": 1})
    await layer.send(channel, {"type": "hello", "n": 2})
    assert await receive(layer, channel) == {"type": "hello", "n": 1}
    assert await receive(layer, channel) == {"type": "hello", "n": 2}


async def test_new_channel_names_are_unique_valid_and_name_the_loop_that_receives_them(layer):
    first, second = await layer.new_channel(), await layer.new_channel()
    assert first != second
    assert first.startswith("specific.") and second.startswith("specific.")
    assert layer.require_valid_channel_name(first) and layer.require_valid_channel_name(second)
    # The part before "!" says who receives: the same for every channel of this loop.
    assert first.split("!")[0] == second.split("!")[0]


async def test_the_receiver_gets_a_copy_not_the_senders_dict(layer):
    channel = await layer.new_channel()
    message = {"type": "hello", "items": [1, 2]}
    await layer.send(channel, message)
    message["items"].append(3)
    assert await receive(layer, channel) == {"type": "hello", "items": [1, 2]}


async def test_a_message_that_could_not_reach_another_process_is_refused_in_process_too(layer):
    channel = await layer.new_channel()
    with pytest.raises(TypeError):
        await layer.send(channel, {"type": "hello", "at": datetime.now(UTC)})


async def test_a_message_to_a_channel_of_another_process_arrives_through_the_file(
    layer, other_process
):
    channel = await layer.new_channel()
    await other_process.send(channel, {"type": "hello", "bytes": b"\x00\x01"})
    assert await receive(layer, channel) == {"type": "hello", "bytes": b"\x00\x01"}


async def test_a_plain_channel_is_received_by_whichever_process_listens(layer, other_process):
    await layer.send("jobs", {"type": "job", "n": 1})
    assert await receive(other_process, "jobs") == {"type": "job", "n": 1}


async def test_invalid_channel_and_group_names_are_refused(layer):
    channel = await layer.new_channel()
    with pytest.raises(TypeError):
        await layer.send("no spaces allowed", {"type": "hello"})
    with pytest.raises(TypeError):
        await layer.receive("no spaces allowed")
    with pytest.raises(TypeError):
        await layer.group_add("no:colons", channel)
    with pytest.raises(TypeError):
        await layer.group_send("x" * 100, {"type": "hello"})


# --- groups ---------------------------------------------------------------------------------


async def test_group_send_reaches_every_member_in_this_and_other_processes(layer, other_process):
    here, also_here = await layer.new_channel(), await layer.new_channel()
    there = await other_process.new_channel()
    for channel, owner in ((here, layer), (also_here, layer), (there, other_process)):
        await owner.group_add("ocpp.cp.CP-1", channel)

    await layer.group_send("ocpp.cp.CP-1", {"type": "ocpp.command", "n": 1})

    assert await receive(layer, here) == {"type": "ocpp.command", "n": 1}
    assert await receive(layer, also_here) == {"type": "ocpp.command", "n": 1}
    assert await receive(other_process, there) == {"type": "ocpp.command", "n": 1}


async def test_a_batch_of_group_sends_reaches_each_member_once_in_the_order_sent(
    layer, other_process, path
):
    """stations/live.py's batches of updates: several groups, members here and there."""
    here, there = await layer.new_channel(), await other_process.new_channel()
    await layer.group_add("live.stations", here)
    await other_process.group_add("live.stations", there)
    await layer.group_add("live.site.1", here)
    sends = [
        (group, {"type": "live.update", "group": group, "n": n})
        for n in range(20)
        for group in ("live.stations", "live.site.1", "live.network")
    ]

    await layer.group_send_many(sends)

    to_here = [message for group, message in sends if group != "live.network"]
    assert [await receive(layer, here) for _ in to_here] == to_here
    to_there = [message for group, message in sends if group == "live.stations"]
    assert [await receive(other_process, there) for _ in to_there] == to_there
    assert rows(path, "messages") == 0  # nothing left over: each sent once


async def test_a_discarded_channel_gets_no_more_group_messages(layer, other_process):
    stays, leaves_here = await layer.new_channel(), await layer.new_channel()
    leaves_there = await other_process.new_channel()
    await layer.group_add("g", stays)
    await layer.group_add("g", leaves_here)
    await other_process.group_add("g", leaves_there)
    await layer.group_discard("g", leaves_here)
    await other_process.group_discard("g", leaves_there)

    await layer.group_send("g", {"type": "group.message"})
    # Sent after the group message: if that had been delivered, it would come first.
    await layer.send(leaves_here, {"type": "marker"})
    await layer.send(leaves_there, {"type": "marker"})

    assert await receive(layer, stays) == {"type": "group.message"}
    assert await receive(layer, leaves_here) == {"type": "marker"}
    assert await receive(other_process, leaves_there) == {"type": "marker"}


async def test_group_send_to_an_empty_or_unknown_group_does_nothing(layer, path):
    await layer.group_send("nobody.here", {"type": "hello"})
    assert rows(path, "messages") == 0


async def test_has_members_tells_a_thread_whether_a_group_send_would_reach_anyone(
    layer, other_process, path
):
    def watched(group: str) -> bool:  # as a server's database thread asks
        return layer.has_members(group)

    assert await asyncio.to_thread(watched, "live.session.7") is False
    here, there = await layer.new_channel(), await other_process.new_channel()
    await layer.group_add("live.session.7", here)
    await other_process.group_add("live.session.8", there)
    assert await asyncio.to_thread(watched, "live.session.7") is True
    assert await asyncio.to_thread(watched, "live.session.8") is True  # another process's
    assert await asyncio.to_thread(watched, "live.session.9") is False

    await layer.group_discard("live.session.7", here)
    assert await asyncio.to_thread(watched, "live.session.7") is False
    # A membership that ran out (a crashed process's) reaches nobody: not counted.
    crashed = SQLiteChannelLayer(path=str(path), group_expiry=-1)
    await crashed.group_add("live.session.7", "specific.0123456789abcdef!gone")
    assert await asyncio.to_thread(watched, "live.session.7") is False


# --- capacity and expiry --------------------------------------------------------------------


async def test_a_full_channel_of_this_process_raises_channel_full(path):
    layer = SQLiteChannelLayer(path=str(path), capacity=2)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "hello"})
    await layer.send(channel, {"type": "hello"})
    with pytest.raises(ChannelFull):
        await layer.send(channel, {"type": "hello"})


async def test_a_full_channel_of_another_process_raises_channel_full(layer, path):
    sender = SQLiteChannelLayer(path=str(path), capacity=2)
    channel = "specific.0123456789abcdef!nobodyreads"
    await sender.send(channel, {"type": "hello"})
    await sender.send(channel, {"type": "hello"})
    with pytest.raises(ChannelFull):
        await sender.send(channel, {"type": "hello"})
    assert rows(path, "messages") == 2


async def test_channel_capacity_patterns_override_the_default_capacity(path):
    layer = SQLiteChannelLayer(path=str(path), channel_capacity={"jobs*": 1})
    await layer.send("jobs-slow", {"type": "job"})
    with pytest.raises(ChannelFull):
        await layer.send("jobs-slow", {"type": "job"})
    await layer.send("other", {"type": "job"})
    await layer.send("other", {"type": "job"})


async def test_a_full_member_misses_a_group_message_and_the_others_still_get_it(path):
    layer = SQLiteChannelLayer(path=str(path), capacity=1)
    full, fine = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", full)
    await layer.group_add("g", fine)
    await layer.send(full, {"type": "first"})

    await layer.group_send("g", {"type": "group.message"})

    assert await receive(layer, fine) == {"type": "group.message"}
    assert await receive(layer, full) == {"type": "first"}


async def test_an_expired_message_is_never_delivered(layer):
    channel = await layer.new_channel()
    layer.expiry = -1
    await layer.send(channel, {"type": "stale"})
    layer.expiry = 60
    await layer.send(channel, {"type": "fresh"})
    assert await receive(layer, channel) == {"type": "fresh"}


async def test_an_expired_message_from_another_process_is_dropped_from_the_file(layer, path):
    channel = await layer.new_channel()
    await SQLiteChannelLayer(path=str(path), expiry=-1).send(channel, {"type": "stale"})
    await SQLiteChannelLayer(path=str(path)).send(channel, {"type": "fresh"})
    assert await receive(layer, channel) == {"type": "fresh"}
    assert rows(path, "messages") == 0


async def test_group_membership_of_a_process_that_went_away_expires(layer, path):
    crashed = SQLiteChannelLayer(path=str(path), group_expiry=-1)
    await crashed.group_add("ocpp.cp.CP-1", "specific.0123456789abcdef!gone")

    await layer.group_send("ocpp.cp.CP-1", {"type": "ocpp.command"})
    assert rows(path, "messages") == 0

    # The first round of a poller deletes the expired membership from the file.
    await layer.new_channel()
    assert await eventually(lambda: rows(path, "group_members") == 0, timeout=WAIT)


async def test_the_membership_of_a_channel_still_being_received_on_does_not_run_out(
    path, other_process
):
    # A charger stays connected far longer than group_expiry; its consumer joins once.
    layer = SQLiteChannelLayer(path=str(path), group_expiry=1)
    channel = await layer.new_channel()
    await layer.group_add("ocpp.cp.CP-1", channel)
    with sqlite3.connect(path) as connection:
        (joined_until,) = connection.execute("SELECT expires FROM group_members").fetchone()
    listening = asyncio.create_task(layer.receive(channel))

    # Past the moment the membership taken by group_add would have run out.
    assert await eventually(lambda: time.time() > joined_until, timeout=WAIT)
    await other_process.group_send("ocpp.cp.CP-1", {"type": "ocpp.command"})

    assert await asyncio.wait_for(listening, WAIT) == {"type": "ocpp.command"}


async def test_flush_forgets_all_messages_and_groups(layer, other_process, path):
    here, there = await layer.new_channel(), await other_process.new_channel()
    await layer.group_add("g", here)
    await layer.send(here, {"type": "old"})
    await layer.send("jobs", {"type": "old"})
    idle = await layer.new_channel()
    waiting = asyncio.create_task(layer.receive(idle))
    await asyncio.sleep(0)

    await layer.flush()

    assert (rows(path, "messages"), rows(path, "group_members")) == (0, 0)
    await layer.group_send("g", {"type": "group.message"})
    await layer.send(here, {"type": "new"})
    assert await receive(layer, here) == {"type": "new"}
    await layer.send(idle, {"type": "new"})
    assert await asyncio.wait_for(waiting, WAIT) == {"type": "new"}
    await other_process.send(there, {"type": "still works"})
    assert await receive(other_process, there) == {"type": "still works"}


# --- event loops ----------------------------------------------------------------------------


async def test_one_poller_serves_every_channel_of_an_event_loop(layer):
    channels = [await layer.new_channel() for _ in range(50)]
    receivers = [asyncio.create_task(layer.receive(channel)) for channel in channels]
    await asyncio.sleep(0)
    pollers = [t for t in asyncio.all_tasks() if t.get_name() == "channel-layer-poller"]
    assert len(pollers) == 1
    for channel in channels:
        await layer.send(channel, {"type": "hello"})
    assert await asyncio.wait_for(asyncio.gather(*receivers), WAIT) == [{"type": "hello"}] * 50


def test_the_layer_serves_one_fresh_event_loop_after_another_like_async_to_sync(
    layer, other_process
):
    async def command_round_trip() -> tuple[str, dict]:
        # What commands.send does from a management command or a Celery task.
        reply_to = await layer.new_channel()
        charger = await other_process.new_channel()
        await other_process.group_add("ocpp.cp.CP-1", charger)
        await layer.group_send("ocpp.cp.CP-1", {"type": "ocpp.command", "reply_to": reply_to})
        command = await receive(other_process, charger)
        await other_process.send(command["reply_to"], {"type": "ocpp.command.result"})
        await other_process.group_discard("ocpp.cp.CP-1", charger)
        return reply_to, await receive(layer, reply_to)

    answers = [async_to_sync(command_round_trip)() for _ in range(3)]

    assert [reply for _, reply in answers] == [{"type": "ocpp.command.result"}] * 3
    # Each loop had its own inbox, and nothing of a closed loop is kept.
    assert len({reply_to.split("!")[0] for reply_to, _ in answers}) == 3
    assert layer._inboxes == {} and other_process._inboxes == {}


async def test_a_channel_of_another_event_loop_in_this_process_gets_its_messages(layer):
    created = threading.Event()
    channel: list[str] = []

    def another_loop() -> dict:
        async def listen() -> dict:
            channel.append(await layer.new_channel())
            created.set()
            return await receive(layer, channel[0])

        return asyncio.run(listen())

    listener = asyncio.create_task(asyncio.to_thread(another_loop))
    assert await asyncio.to_thread(created.wait, WAIT)
    await layer.send(channel[0], {"type": "hello"})
    assert await asyncio.wait_for(listener, WAIT) == {"type": "hello"}


# --- two real processes ---------------------------------------------------------------------


async def test_a_group_member_in_another_process_receives_group_send_and_replies(layer, path):
    peer = await asyncio.create_subprocess_exec(
        sys.executable, str(PEER), str(path), "ocpp.cp.CP-PEER", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert await asyncio.wait_for(peer.stdout.readline(), 30) == b"ready\n"
        reply_to = await layer.new_channel()

        await layer.group_send(
            "ocpp.cp.CP-PEER", {"type": "peer.ask", "text": "hello", "reply_to": reply_to}
        )

        reply = await receive(layer, reply_to)
        assert reply == {"type": "peer.reply", "text": "hello", "pid": peer.pid}
        assert await asyncio.wait_for(peer.wait(), WAIT) == 0
    finally:
        if peer.returncode is None:
            peer.kill()
            await peer.wait()
