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
from typing import Any

import redis
import redis.sentinel
from channels_redis.core import RedisChannelLayer as ChannelsRedisLayer
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

logger = logging.getLogger(__name__)

# Seconds has_members() waits for Redis; then it raises (is_watched: counted as watched).
HAS_MEMBERS_TIMEOUT = 0.5

# A group's members, its expired ones dropped first (channels_redis: two commands).
GROUP_MEMBERS_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
# channels_redis's script for sending to a group's channels, which first drops each
# channel's expired messages itself (channels_redis: a pipeline of its own before it).
GROUP_SEND_LUA = """
local n = #KEYS
local now = ARGV[2 * n + 1]
local expiry = ARGV[2 * n + 2]
local stale = ARGV[2 * n + 3]
local over_capacity = 0
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, stale)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + n]) then
        redis.call('ZADD', KEYS[i], now, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


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
        assert self.require_valid_group_name(group), "Group name not valid"
        connection = self.connection(self.consistent_hash(group))
        members = await connection.eval(
            GROUP_MEMBERS_LUA,
            1,
            self._group_key(group),
            int(time.time()) - self.group_expiry,
        )
        if not members:
            return
        channel_names = [member.decode("utf8") for member in members]
        keys_by_connection, messages, capacities = self._map_channel_keys_to_connection(
            channel_names, message
        )
        for index, keys in keys_by_connection.items():
            now = time.time()
            over_capacity = await self.connection(index).eval(
                GROUP_SEND_LUA,
                len(keys),
                *keys,
                *[messages[key] for key in keys],
                *[capacities[key] for key in keys],
                now,
                self.expiry,
                int(now) - int(self.expiry),
            )
            if over_capacity > 0:
                logger.info(
                    "%s of %s channels over capacity in group %s",
                    over_capacity,
                    len(channel_names),
                    group,
                )
