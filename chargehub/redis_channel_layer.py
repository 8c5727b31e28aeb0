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
"""

from typing import Any

from channels_redis.core import RedisChannelLayer as ChannelsRedisLayer
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """The master's connections through Sentinel, waiting for a free one as above."""


class RedisChannelLayer(ChannelsRedisLayer):
    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "master_name" in host:
            sentinel = Sentinel(host.pop("sentinels"), sentinel_kwargs=host.pop("sentinel_kwargs"))
            return BlockingSentinelConnectionPool(host.pop("master_name"), sentinel, **host)
        return BlockingConnectionPool.from_url(host.pop("address"), **host)
