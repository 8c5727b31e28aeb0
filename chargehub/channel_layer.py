"""The embedded channel layer: Channels across processes without Redis.

`make run` has no Redis, yet several processes must talk: daphne holds the chargers'
sockets while a Celery worker, `manage.py ocpp_call` or a test sends them commands
(stations/ocpp/commands.py). Production uses channels_redis (REDIS_URL or
REDIS_SENTINELS); this layer is the default without it, and keeps its shared state in
one SQLite file.

- Every event loop that uses the layer gets an inbox with a random token, and the
  names new_channel() hands out carry it ("specific.<token>!<random>"): the name says
  who receives. Loops, not processes, own channels because async_to_sync (management
  commands, Celery) runs every call in a fresh loop, and an asyncio.Queue serves one
  loop only.
- A message for a channel of the sending loop stays in memory, as in
  InMemoryChannelLayer. Any other message becomes a row in the file's `messages` table.
  A plain channel name (no "!") belongs to no loop: its rows go to whichever loop
  receives on it.
- Group membership lives in the file (`group_members`), so group_send in any process
  finds the members of every process. A member that is being received on is renewed,
  so only the memberships of a crashed process run out (after group_expiry).
- `has_members(group)` (ours, not Channels'): whether a group_send would reach anyone,
  for sync code that skips work no page watches (stations.live.is_watched).
  `group_send_many(sends)` (ours too): several group_sends in one trip to the layer's
  thread, for stations.live's batches of updates.
- One poller task per event loop (not one per consumer) takes the rows addressed to
  its inbox every POLL_INTERVAL and puts them on the local queues. asyncio.run, which
  async_to_sync and pytest use, cancels it when the loop ends; the inbox goes with it.
- SQLite calls block, so they run on one worker thread per process, with one
  connection. WAL mode lets the pollers read while another process writes.
"""

import asyncio
import json
import logging
import os
import secrets
import sqlite3
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

try:  # channels_redis brings msgpack; payloads are JSON-like, so JSON does too.
    import msgpack
except ImportError:  # pragma: no cover
    msgpack = None

logger = logging.getLogger(__name__)

# How often a loop looks for rows addressed to it: the latency a command pays per hop.
POLL_INTERVAL = 0.025
# How often a poller renews its memberships and deletes expired rows and messages.
CLEANUP_INTERVAL = 10.0
# Writes are single short statements; waiting longer than this means something is stuck.
BUSY_TIMEOUT = 2.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,  -- who takes the row: "<token>!" of a loop, or a plain channel
    channel TEXT NOT NULL,
    payload BLOB NOT NULL,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_owner ON messages (owner);
CREATE INDEX IF NOT EXISTS messages_channel ON messages (channel);
CREATE TABLE IF NOT EXISTS group_members (
    group_name TEXT NOT NULL,
    channel TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (group_name, channel)
);
CREATE INDEX IF NOT EXISTS group_members_channel ON group_members (channel);
"""

Message = dict[str, Any]


def encode(message: Message) -> bytes:
    if msgpack is not None:
        return msgpack.packb(message, use_bin_type=True)
    return json.dumps(message).encode()


def decode(payload: bytes) -> Message:
    if msgpack is not None:
        return msgpack.unpackb(payload, raw=False, strict_map_key=False)
    return json.loads(payload)


def owner_of(channel: str) -> str:
    """Whose poller takes a channel's rows: "<token>!" for a specific channel, else its name.

    Plain names cannot contain "!", so the two kinds never collide.
    """
    if "!" not in channel:
        return channel
    return channel.split("!", 1)[0].rsplit(".", 1)[-1] + "!"


class Inbox:
    """What one event loop receives: its token, its local queues, its poller."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(8)
        self.owner = self.token + "!"
        self.queues: dict[str, asyncio.Queue[tuple[float, Message]]] = {}
        self.receivers: Counter[str] = Counter()  # channel -> receive() calls waiting
        self.watched: Counter[str] = Counter()  # other owners a receive() here waits on
        self.poller: asyncio.Task[None] | None = None


class SQLiteChannelLayer(BaseChannelLayer):
    extensions = ["groups", "flush"]
    # Any number of event loops may receive at once (one inbox each): commands.py shares it.
    serves_every_event_loop = True

    def __init__(
        self,
        path: str,
        expiry: int = 60,
        group_expiry: int = 86400,
        capacity: int = 100,
        channel_capacity: dict[str, int] | None = None,
    ) -> None:
        super().__init__(expiry=expiry, capacity=capacity)
        self.channel_capacity = self.compile_capacities(channel_capacity or {})
        self.path = str(path)
        self.group_expiry = group_expiry
        self.cleanup_interval = max(POLL_INTERVAL, min(CLEANUP_INTERVAL, group_expiry / 4))
        self._inboxes: dict[asyncio.AbstractEventLoop, Inbox] = {}
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._readers = threading.local()  # has_members's connection in each thread

    # --- Channel layer API ------------------------------------------------------------

    async def send(self, channel: str, message: Message) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        inbox = self._inbox()
        # Encoded even when it stays in memory: a message that could not reach another
        # process fails here too, and the receiver gets a copy, not the sender's dict.
        payload = encode(message)
        expires = time.time() + self.expiry
        if owner_of(channel) == inbox.owner:
            self._put(inbox, channel, expires, decode(payload))
        elif await self._db(self._insert, [(channel, payload)], expires):
            raise ChannelFull(channel)

    async def receive(self, channel: str) -> Message:
        self.require_valid_channel_name(channel)
        inbox = self._inbox(receiving=True)
        # A plain channel, or a channel of a loop that is gone: this loop's poller takes
        # its rows too while someone here waits on it.
        owner = owner_of(channel)
        foreign = owner != inbox.owner
        if foreign:
            inbox.watched[owner] += 1
        inbox.receivers[channel] += 1
        queue = self._queue(inbox, channel)
        try:
            while True:
                expires, message = await queue.get()
                if expires > time.time():
                    return message
        finally:
            inbox.receivers[channel] -= 1
            if not inbox.receivers[channel]:
                del inbox.receivers[channel]
                if queue.empty() and inbox.queues.get(channel) is queue:
                    del inbox.queues[channel]
            if foreign:
                inbox.watched[owner] -= 1
                if not inbox.watched[owner]:
                    del inbox.watched[owner]

    async def new_channel(self, prefix: str = "specific.") -> str:
        inbox = self._inbox(receiving=True)
        suffix = "".join(secrets.choice(string.ascii_letters) for _ in range(12))
        return f"{prefix.rstrip('.')}.{inbox.token}!{suffix}"

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        # Re-adding renews the membership; a crashed process's members expire.
        await self._db(
            self._execute,
            "INSERT INTO group_members (group_name, channel, expires) VALUES (?, ?, ?)"
            " ON CONFLICT (group_name, channel) DO UPDATE SET expires = excluded.expires",
            (group, channel, time.time() + self.group_expiry),
        )

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_channel_name(channel)
        self.require_valid_group_name(group)
        await self._db(
            self._execute,
            "DELETE FROM group_members WHERE group_name = ? AND channel = ?",
            (group, channel),
        )

    async def group_send(self, group: str, message: Message) -> None:
        await self.group_send_many([(group, message)])

    async def group_send_many(self, sends: Sequence[tuple[str, Message]]) -> None:
        """group_send(group, message) for each pair in turn, in one trip to the layer's
        thread for them all (stations/live.py's batches of live updates)."""
        for group, message in sends:
            assert isinstance(message, dict), "Message is not a dict"
            self.require_valid_group_name(group)
        inbox = self._inbox()
        payloads = [(group, encode(message)) for group, message in sends]
        expires = time.time() + self.expiry
        local = await self._db(self._send_to_groups, payloads, inbox.owner, expires)
        for (group, payload), channels in zip(payloads, local, strict=True):
            for channel in channels:
                try:
                    self._put(inbox, channel, expires, decode(payload))
                except ChannelFull:
                    # As in the other layers, a full member misses a group message.
                    logger.info("Channel %s is full; group message to %s dropped", channel, group)

    def has_members(self, group: str) -> bool:
        """Whether group_send(group) would reach anyone now, in any process. For sync
        code (a server's database thread: stations.live.is_watched); it reads the file
        on a connection of the calling thread's own, not through the layer's thread."""
        self.require_valid_group_name(group)
        readers = self._readers
        if getattr(readers, "pid", None) != os.getpid():  # none yet, or a fork's parent's
            readers.connection, readers.pid = self._connect(), os.getpid()
        # fetchall: the statement runs to its end, so no read transaction is left open.
        members = readers.connection.execute(
            "SELECT 1 FROM group_members WHERE group_name = ? AND expires > ? LIMIT 1",
            (group, time.time()),
        ).fetchall()
        return bool(members)

    async def flush(self) -> None:
        await self._db(self._execute, "DELETE FROM messages; DELETE FROM group_members")
        # Emptied in place: a receive() waiting on a queue keeps waiting on that queue.
        for inbox in list(self._inboxes.values()):
            for queue in list(inbox.queues.values()):
                while not queue.empty():
                    queue.get_nowait()

    async def close(self) -> None:
        """Stop this loop's poller; the layer starts a new one when used again."""
        inbox = self._inboxes.pop(asyncio.get_running_loop(), None)
        if inbox is not None and inbox.poller is not None:
            inbox.poller.cancel()

    # --- In memory: one inbox per event loop ------------------------------------------

    def _inbox(self, *, receiving: bool = False) -> Inbox:
        self._reset_after_fork()
        loop = asyncio.get_running_loop()
        inbox = self._inboxes.get(loop)
        if inbox is None:
            # A loop closed without cancelling its poller leaves its inbox behind.
            for closed in [old for old in list(self._inboxes) if old.is_closed()]:
                self._inboxes.pop(closed, None)
            inbox = self._inboxes[loop] = Inbox()
        if receiving and inbox.poller is None:
            inbox.poller = loop.create_task(self._poll(loop, inbox), name="channel-layer-poller")
        return inbox

    def _queue(self, inbox: Inbox, channel: str) -> asyncio.Queue[tuple[float, Message]]:
        queue = inbox.queues.get(channel)
        if queue is None:
            queue = inbox.queues[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return queue

    def _put(
        self, inbox: Inbox, channel: str, expires: float, message: Message, *, polled: bool = False
    ) -> None:
        queue = self._queue(inbox, channel)
        if queue.full():
            if not polled:
                raise ChannelFull(channel)
            # The sender was told the row fit; a receiver this far behind has stopped
            # reading. Keep the newest messages, as channels_redis does.
            queue.get_nowait()
            logger.warning("Channel %s is full; its oldest message was dropped", channel)
        queue.put_nowait((expires, message))

    async def _poll(self, loop: asyncio.AbstractEventLoop, inbox: Inbox) -> None:
        next_cleanup = 0.0
        try:
            while True:
                # A failed round (file locked for too long, ...) is logged and retried:
                # the receivers of this loop depend on the poller staying alive.
                try:
                    for channel, payload, expires in await self._db(
                        self._take, [inbox.owner, *inbox.watched]
                    ):
                        self._put(inbox, channel, expires, decode(payload), polled=True)
                    if time.monotonic() >= next_cleanup:
                        next_cleanup = time.monotonic() + self.cleanup_interval
                        self._drop_expired(inbox)
                        await self._db(self._renew, list(inbox.receivers))
                        await self._db(self._delete_expired)
                except Exception:
                    logger.exception("Channel layer %s: polling failed", self.path)
                await asyncio.sleep(POLL_INTERVAL)
        finally:
            if self._inboxes.get(loop) is inbox:
                del self._inboxes[loop]

    def _drop_expired(self, inbox: Inbox) -> None:
        now = time.time()
        for channel, queue in list(inbox.queues.items()):
            dropped = False
            while not queue.empty() and queue._queue[0][0] <= now:  # type: ignore[attr-defined]
                queue.get_nowait()
                dropped = True
            # Waiting receivers only wait on an empty queue, so one that held expired
            # messages has none: nobody reads it any more.
            if dropped and queue.empty():
                inbox.queues.pop(channel, None)

    # --- In the file: one thread and one connection per process -------------------------

    def _reset_after_fork(self) -> None:
        # Threads, connections and loops do not survive fork() (Celery's prefork pool).
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._executor = None
            self._connection = None
            self._inboxes = {}

    async def _db[T](self, function: Callable[..., T], *args: Any) -> T:
        self._reset_after_fork()
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="channel-layer")
            executor = self._executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self._with_connection, function, *args)

    def _with_connection[T](self, function: Callable[..., T], *args: Any) -> T:
        if self._connection is None:
            self._connection = self._connect()
        return function(self._connection, *args)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit: every statement is its own short transaction, unless BEGIN.
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        # WAL is a property of the file, set by whoever comes first. Switching needs the
        # file to itself and SQLite does not wait for that, so two processes starting
        # together may have to try again.
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                if connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                    break
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    connection.close()
                    raise
            time.sleep(0.01)
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(SCHEMA)
        return connection

    @staticmethod
    def _execute(connection: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> None:
        if params:
            connection.execute(sql, params)
        else:
            connection.executescript(sql)

    def _insert(
        self, connection: sqlite3.Connection, deliveries: list[tuple[str, bytes]], expires: float
    ) -> list[str]:
        """Store messages for other loops; returns the channels that were full."""
        now = time.time()
        full = []
        connection.execute("BEGIN IMMEDIATE")
        try:
            for channel, payload in deliveries:
                (waiting,) = connection.execute(
                    "SELECT COUNT(*) FROM messages WHERE channel = ? AND expires > ?",
                    (channel, now),
                ).fetchone()
                if waiting >= self.get_capacity(channel):
                    full.append(channel)
                    continue
                connection.execute(
                    "INSERT INTO messages (owner, channel, payload, expires) VALUES (?, ?, ?, ?)",
                    (owner_of(channel), channel, payload, expires),
                )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return full

    def _send_to_groups(
        self,
        connection: sqlite3.Connection,
        payloads: list[tuple[str, bytes]],
        local_owner: str,
        expires: float,
    ) -> list[list[str]]:
        """Store each (group, payload) for the group's remote members; returns each one's
        local members."""
        local = []
        for group, payload in payloads:
            members = [
                channel
                for (channel,) in connection.execute(
                    "SELECT channel FROM group_members WHERE group_name = ? AND expires > ?",
                    (group, time.time()),
                )
            ]
            local.append([channel for channel in members if owner_of(channel) == local_owner])
            remote = [(channel, payload) for channel in members if owner_of(channel) != local_owner]
            if remote:
                for channel in self._insert(connection, remote, expires):
                    logger.info("Channel %s is full; group message to %s dropped", channel, group)
        return local

    @staticmethod
    def _take(connection: sqlite3.Connection, owners: list[str]) -> list[tuple[str, bytes, float]]:
        """Delete and return the unexpired rows for these owners, oldest first."""
        marks = ",".join("?" * len(owners))
        # Reading takes no lock in WAL mode; only write when there is something to take.
        found = connection.execute(
            f"SELECT 1 FROM messages WHERE owner IN ({marks}) LIMIT 1", owners
        ).fetchone()
        if found is None:
            return []
        # One DELETE ... RETURNING: two pollers never both get a row. RETURNING has no
        # order, so sort by id (insertion order).
        rows = connection.execute(
            f"DELETE FROM messages WHERE owner IN ({marks})"
            " RETURNING id, channel, payload, expires",
            owners,
        ).fetchall()
        now = time.time()
        return [
            (channel, payload, expires)
            for _, channel, payload, expires in sorted(rows)
            if expires > now
        ]

    def _renew(self, connection: sqlite3.Connection, channels: list[str]) -> None:
        """Renew the memberships of channels a receive() is waiting on, past half-life.

        A charger stays connected for weeks; its consumer joins its group once.
        """
        now = time.time()
        for start in range(0, len(channels), 500):  # SQLite limits bound parameters
            chunk = channels[start : start + 500]
            connection.execute(
                "UPDATE group_members SET expires = ? WHERE expires < ?"
                f" AND channel IN ({','.join('?' * len(chunk))})",
                [now + self.group_expiry, now + self.group_expiry / 2, *chunk],
            )

    @staticmethod
    def _delete_expired(connection: sqlite3.Connection) -> None:
        now = time.time()
        connection.execute("DELETE FROM messages WHERE expires <= ?", (now,))
        connection.execute("DELETE FROM group_members WHERE expires <= ?", (now,))
