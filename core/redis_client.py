"""The one Redis connection pool of a process (the hot plane), with a small circuit breaker.

Redis holds speed, not truth: every caller has a fallback. Short timeouts keep a dead Redis to
milliseconds, and after a failure the breaker skips Redis for a few seconds so that an outage
costs no timeout at all on the hot path (it is logged once per outage and shown in /health).
"""

import logging
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import redis
from django.conf import settings

logger = logging.getLogger("autoflow.redis")
T = TypeVar("T")

BREAKER_SECONDS = 2.0
_state = {"down_until": 0.0, "reported": False}
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _pool(url: str, timeout: float) -> redis.ConnectionPool:
    return redis.ConnectionPool.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30,
        decode_responses=True,
    )


@lru_cache(maxsize=1)
def _client(url: str, timeout: float) -> redis.Redis:
    # One client per pool: building a redis.Redis sets up ~170 response callbacks (0.4 ms).
    return redis.Redis(connection_pool=_pool(url, timeout))


def get_redis() -> redis.Redis:
    return _client(settings.REDIS_URL, settings.REDIS_SOCKET_TIMEOUT)


def reset_redis_pool() -> None:
    """Forget the pool and the breaker (after REDIS_URL changed, or in a forked worker)."""
    _client.cache_clear()
    _pool.cache_clear()
    with _lock:
        _state.update(down_until=0.0, reported=False)


def redis_is_tripped() -> bool:
    return time.monotonic() < _state["down_until"]


def hot(operation: Callable[[redis.Redis], T], default: T) -> T:
    """Run `operation` against Redis; on failure (or while the breaker is open) return `default`."""
    if redis_is_tripped():
        return default
    try:
        result = operation(get_redis())
    except redis.RedisError as exc:
        with _lock:
            _state["down_until"] = time.monotonic() + BREAKER_SECONDS
            first = not _state["reported"]
            _state["reported"] = True
        if first:
            logger.warning("Redis unavailable (%s): serving from PostgreSQL, rate limits fail open",
                           type(exc).__name__)
        return default
    if _state["reported"]:
        with _lock:
            _state["reported"] = False
        logger.warning("Redis is back")
    return result
