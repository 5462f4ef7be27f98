"""Dependency checks behind /health, /health/ready and the console's overview, each against the real
service: PostgreSQL, Redis and the model (Ollama, or the built-in engine)."""

import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.redis_client import get_redis
from core.timestamps import utc_iso
from orchestration.engines.probe import active_backend, probe_ollama


@dataclass(frozen=True)
class Check:
    ok: bool
    latency_ms: float
    error: str = ""


def _timed(func) -> Check:
    started = time.perf_counter()
    try:
        func()
    except Exception as exc:  # a failing dependency is data here, not an error
        return Check(False, round((time.perf_counter() - started) * 1000, 1), type(exc).__name__)
    return Check(True, round((time.perf_counter() - started) * 1000, 1))


def _ping_database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        connection.close()  # do not hand a broken connection to the next request
        raise


def check_database() -> Check:
    return _timed(_ping_database)


def check_redis() -> Check:
    return _timed(lambda: get_redis().ping())


def exposure() -> str:
    """`open` when AUTOFLOW_ALLOW_OPEN let the web tier serve beyond loopback although
    WEBHOOK_API_KEY or AUTOFLOW_ADMIN_API_KEY is missing (scripts/web.py), else `guarded`."""
    keys_missing = not settings.WEBHOOK_API_KEY or not settings.AUTOFLOW_ADMIN_API_KEY
    return "open" if settings.AUTOFLOW_ALLOW_OPEN and keys_missing else "guarded"


def health_report() -> dict:
    database = check_database()
    redis = check_redis()
    ollama = probe_ollama()
    backend = active_backend()
    return {
        "status": "ok" if database.ok and redis.ok else "degraded",
        "database": database.ok,
        "redis": redis.ok,
        "ollama": ollama.reachable and ollama.model_available,
        "llm_backend": backend,
        "timestamp": utc_iso(timezone.now(), timespec="milliseconds"),
        # Rate-limit counters live in Redis; without it intake stays open rather than closed.
        "rate_limiting": "active" if redis.ok else "fail_open",
        "exposure": exposure(),
        "checks": {
            "database": asdict(database),
            "redis": asdict(redis),
            "ollama": {"ok": ollama.reachable, "model_available": ollama.model_available,
                       "version": ollama.version, "error": ollama.error},
        },
    }
