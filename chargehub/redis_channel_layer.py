"""channels_redis, with a connection pool that makes a storm wait instead of failing.

channels_redis builds redis-py's plain ConnectionPool, which raises MaxConnectionsError
as soon as every connection is in use: when hundreds of chargers reconnect at once
(after a power cut), their handshakes' group_add/group_send failed with HTTP 500.
A BlockingConnectionPool makes each call wait for a free connection, up to its
`timeout`; only then does the consumer refuse the charger, which retries.

Behind Redis Sentinel (a host with "sentinels" and "master_name", settings'
REDIS_SENTINELS) the pool asks the sentinels for the master at each new connection, so
after a failover the layer's next connections reach the new master; a call that was on
the old one fails once, which the consumer and commands.py treat as a short outage.

group_send makes one round trip to Redis for a group without members (channels_redis
makes two) and two for one with members (channels_redis four): a charger's
StatusNotification alone sends its update to three groups (stations/live.py,
operations/live.py), most with no page watching.

`group_send_many(sends)` (ours, not Channels'): the group_send of each (group, message)
in turn, for a batch of live updates (stations/live.py): one round trip per Redis host
asks for the members of all the batch's groups, one per host of the members' channels
delivers every message. A channel that gets several messages of the batch gets them
in the order given: each is scored (the time channels_redis pops by) a microsecond
after the one before it.

group_add makes one round trip (channels_redis: ZADD, then EXPIRE): every charger's
connect joins its group, thousands at once in a storm, where the second command's
connection taken from the pool and given back was a tenth of a server's CPU (#17).

`has_members(group)` (ours, not Channels'): whether a group_send would reach anyone now,
one ZCOUNT on a blocking connection of its own, for sync code that skips work no page
watches (stations.live.is_watched). Those connections wait at most HAS_MEMBERS_TIMEOUT
(to connect, read, or get a free connection), not the layer's 20 s: the question is asked
from a charger's database thread, and a Redis that hangs must not hold its call.
"""

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import redis
import redis.sentinel
from channels_redis.core import RedisChannelLayer as ChannelsRedisLayer
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

logger = logging.getLogger(__name__)

# Seconds has_members() waits for Redis; then it raises (is_watched: counted as watched).
HAS_MEMBERS_TIMEOUT = 0.5

# The members of each group (key), its expired ones dropped first (channels_redis: two
# commands per group).
GROUP_MEMBERS_LUA = """
local members = {}
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, ARGV[1])
    members[i] = redis.call('ZRANGE', KEYS[i], 0, -1)
end
return members
"""
# channels_redis's script for sending to a group's channels, which first drops each
# channel's expired messages itself (channels_redis: a pipeline of its own before it);
# here each message has its score, and a key may come again (a batch's next message to
# that channel). Returns, for each key in turn, 1 if its channel was full, else 0.
GROUP_SEND_LUA = """
local n = #KEYS
local expiry = ARGV[3 * n + 1]
local stale = ARGV[3 * n + 2]
local over_capacity = {}
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, stale)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + n]) then
        redis.call('ZADD', KEYS[i], ARGV[i + 2 * n], ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
        over_capacity[i] = 0
    else
        over_capacity[i] = 1
    end
end
return over_capacity
"""
# A batch's next message to a channel is scored this much later than the one before it
# (seconds; a float near today's time has steps of 2.4e-7 s), so the channel pops them
# in order; the next batch starts after the last score, even within the same microsecond.
# A group_send, one message per channel, is scored the time it is sent.
SCORE_STEP = 1e-6


# channels_redis's group_add (a member with the time it joined, the group kept for the
# group expiry) as one command.
GROUP_ADD_LUA = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
"""


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """The master's connections through Sentinel, waiting for a free one as above."""


class BlockingSyncSentinelConnectionPool(
    redis.sentinel.SentinelConnectionPool, redis.BlockingConnectionPool
):
    """has_members's connections to the master through Sentinel, waiting likewise."""


class RedisChannelLayer(ChannelsRedisLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_clients: dict[int, redis.Redis] = {}
        self._sync_lock = threading.Lock()
        # After the last score a batch gave (group_send_many): the next one scores later.
        self._next_score = 0.0

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "master_name" in host:
            sentinel = Sentinel(host.pop("sentinels"), sentinel_kwargs=host.pop("sentinel_kwargs"))
            return BlockingSentinelConnectionPool(host.pop("master_name"), sentinel, **host)
        return BlockingConnectionPool.from_url(host.pop("address"), **host)

    def _sync_client(self, index: int) -> redis.Redis:
        """A blocking client of host `index` (redis-py's are thread-safe), made once."""
        with self._sync_lock:
            client = self._sync_clients.get(index)
            if client is None:
                host = dict(self.hosts[index])
                # Its own short waits (see HAS_MEMBERS_TIMEOUT), not the layer's.
                for option in ("socket_timeout", "socket_connect_timeout", "timeout"):
                    host[option] = HAS_MEMBERS_TIMEOUT
                if "master_name" in host:
                    sentinel = redis.sentinel.Sentinel(
                        host.pop("sentinels"), sentinel_kwargs=host.pop("sentinel_kwargs")
                    )
                    pool: redis.ConnectionPool = BlockingSyncSentinelConnectionPool(
                        host.pop("master_name"), sentinel, **host
                    )
                else:
                    pool = redis.BlockingConnectionPool.from_url(host.pop("address"), **host)
                client = self._sync_clients[index] = redis.Redis(connection_pool=pool)
            return client

    def has_members(self, group: str) -> bool:
        """Whether group_send(group) would reach anyone now: a member whose membership
        has not expired (group_send drops the others first). Blocking: for sync code,
        never an event loop."""
        assert self.require_valid_group_name(group), "Group name not valid"
        client = self._sync_client(self.consistent_hash(group))
        alive_after = int(time.time()) - self.group_expiry  # as group_send's cut-off
        return client.zcount(self._group_key(group), f"({alive_after}", "+inf") > 0

    async def close_pools(self) -> None:
        await super().close_pools()
        with self._sync_lock:
            clients, self._sync_clients = self._sync_clients, {}
        for client in clients.values():
            client.close()
            client.connection_pool.disconnect()

    async def group_add(self, group: str, channel: str) -> None:
        """channels_redis's group_add (same key, score and expiry) in one round trip."""
        assert self.require_valid_group_name(group), "Group name not valid"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        connection = self.connection(self.consistent_hash(group))
        await connection.eval(
            GROUP_ADD_LUA, 1, self._group_key(group), time.time(), channel, self.group_expiry
        )

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """channels_redis's group_send (same keys, expiries and capacity) in fewer round
        trips: see the module docstring."""
        await self.group_send_many([(group, message)])

    async def group_send_many(self, sends: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """group_send(group, message) for each pair in turn, in one round trip per Redis
        host for all the groups' members, then one per host of their channels."""
        for group, _ in sends:
            assert self.require_valid_group_name(group), "Group name not valid"
        members = await self._members({group for group, _ in sends})
        # Per host: each delivery's channel key, its message, the channel's capacity and
        # which of `sends` it is (for the log), in the order of `sends`.
        deliveries: dict[int, list[tuple[bytes, bytes, int, int]]] = defaultdict(list)
        for n, (group, message) in enumerate(sends):
            if not members[group]:
                continue
            keys_by_connection, messages, capacities = self._map_channel_keys_to_connection(
                members[group], message
            )
            for index, keys in keys_by_connection.items():
                deliveries[index] += [(key, messages[key], capacities[key], n) for key in keys]
        for index, batch in deliveries.items():
            now = max(time.time(), self._next_score)
            sent_to: Counter[bytes] = Counter()
            scores = []
            for key, *_ in batch:
                scores.append(now + sent_to[key] * SCORE_STEP)
                sent_to[key] += 1
            self._next_score = now + max(sent_to.values()) * SCORE_STEP
            over_capacity = await self.connection(index).eval(
                GROUP_SEND_LUA,
                len(batch),
                *[key for key, *_ in batch],
                *[message for _, message, _, _ in batch],
                *[capacity for _, _, capacity, _ in batch],
                *scores,
                self.expiry,
                int(now) - int(self.expiry),
            )
            full = Counter(n for (*_, n), over in zip(batch, over_capacity, strict=True) if over)
            for n, count in sorted(full.items()):
                group = sends[n][0]
                logger.info(
                    "%s of %s channels over capacity in group %s",
                    count,
                    len(members[group]),
                    group,
                )

    async def _members(self, groups: set[str]) -> dict[str, list[str]]:
        """Each group's channels, its expired memberships dropped: one round trip per
        host of the groups."""
        by_host: dict[int, list[str]] = defaultdict(list)
        for group in groups:
            by_host[self.consistent_hash(group)].append(group)
        alive_after = int(time.time()) - self.group_expiry
        members = {}
        for index, host_groups in by_host.items():
            answers = await self.connection(index).eval(
                GROUP_MEMBERS_LUA,
                len(host_groups),
                *[self._group_key(group) for group in host_groups],
                alive_after,
            )
            for group, channels in zip(host_groups, answers, strict=True):
                members[group] = [channel.decode("utf8") for channel in channels]
        return members
