"""Django's Redis cache through Redis Sentinel (settings' CACHE_SENTINEL_DB).

Django's RedisCache builds each pool with `pool_class.from_url(LOCATION, **OPTIONS)`;
this pool takes the sentinels and the master's name from OPTIONS instead of the URL, and
asks the sentinels for the master at each new connection, so the cache follows a
failover as the channel layer and Celery's broker do.
"""

from typing import Any

from redis import sentinel


class SentinelConnectionPool(sentinel.SentinelConnectionPool):
    @classmethod
    def from_url(cls, url: str, **options: Any) -> "SentinelConnectionPool":
        """`url` is only the cache's name; OPTIONS say where the sentinels are."""
        manager = sentinel.Sentinel(
            options.pop("sentinels"), sentinel_kwargs=options.pop("sentinel_kwargs")
        )
        return cls(options.pop("master_name"), manager, **options)
