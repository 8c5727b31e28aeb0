"""channels_redis, with a connection pool that makes a storm wait instead of failing.

channels_redis builds redis-py's plain ConnectionPool, which raises MaxConnectionsError
as soon as every connection is in use: when hundreds of chargers reconnect at once
(after a power cut), their handshakes' group_add/group_send failed with HTTP 500.
A BlockingConnectionPool makes each call wait for a free connection, up to its
`timeout`; only then does the consumer refuse the charger, which retries.
"""

from typing import Any

from channels_redis.core import RedisChannelLayer as ChannelsRedisLayer
from redis.asyncio import BlockingConnectionPool


class RedisChannelLayer(ChannelsRedisLayer):
    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"), **host)
