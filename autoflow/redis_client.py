"""The one Redis connection pool of a process (the hot plane). Short timeouts: a dead Redis must
cost milliseconds, because Redis holds speed, not truth."""

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def _pool(url: str, timeout: float) -> redis.ConnectionPool:
    return redis.ConnectionPool.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30,
        decode_responses=True,
    )


def get_redis() -> redis.Redis:
    return redis.Redis(connection_pool=_pool(settings.REDIS_URL, settings.REDIS_SOCKET_TIMEOUT))


def reset_redis_pool() -> None:
    """Forget the pool (after REDIS_URL changed, or in a forked worker)."""
    _pool.cache_clear()
