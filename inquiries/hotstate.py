"""The Redis hot plane of runs: TTL'd snapshots, step lists, idempotency cache.

Every function here may fail silently (the breaker in core.redis_client): callers always
have PostgreSQL to fall back on, so losing Redis loses speed, not data. A lost write leaves a
stale snapshot behind: readers check it against PostgreSQL (`selectors.run_status`), which is
why a snapshot's `updated_at` is always the value PostgreSQL stored.
"""

import hashlib
import json
from typing import Any

from django.conf import settings

from core.redis_client import hot


def run_key(run_id) -> str:
    return f"autoflow:run:{run_id}"


def steps_key(run_id) -> str:
    return f"autoflow:steps:{run_id}"


def idempotency_key(caller: str, key: str) -> str:
    digest = hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()
    return f"autoflow:idempotency:{digest}"


def _queue_snapshot(pipe, payload: dict[str, Any]) -> None:
    run_id = payload["run_id"]
    ttl = settings.RUN_SNAPSHOT_TTL_SECONDS
    pipe.set(run_key(run_id), json.dumps(payload, separators=(",", ":")), ex=ttl)
    pipe.delete(steps_key(run_id))
    if payload["agent_steps"]:
        pipe.rpush(steps_key(run_id), *(json.dumps(s, separators=(",", ":")) for s in payload["agent_steps"]))
        pipe.expire(steps_key(run_id), ttl)


def snapshot_write(payload: dict[str, Any]) -> bool:
    """Store a run's RunStatus snapshot and its step list, as one round trip."""
    def write(r) -> bool:
        pipe = r.pipeline(transaction=False)
        _queue_snapshot(pipe, payload)
        pipe.execute()
        return True

    return hot(write, False)


def run_progress(payload: dict[str, Any], *, step: dict[str, Any] | None = None,
                 events: list[tuple[str, dict[str, Any]]] = ()) -> bool:
    """After a run's change commits: its whole snapshot and step list (rewritten, so a Redis that
    lost them is repaired on the way), and its live events (group, message), in one round trip.
    `step` is the step just recorded; it is already among the payload's steps."""
    from . import realtime

    def write(r) -> bool:
        pipe = r.pipeline(transaction=False)
        _queue_snapshot(pipe, payload)
        for group, message in events:
            pipe.publish(*realtime.wire(group, message))
        pipe.execute()
        return True

    return hot(write, False)


def accepted_write(*, snapshot: dict[str, Any], idempotency: dict[str, Any] | None = None) -> bool:
    """After intake commits: the new run's snapshot and its idempotency cache entry, one round trip."""
    def write(r) -> bool:
        pipe = r.pipeline(transaction=False)
        _queue_snapshot(pipe, snapshot)
        if idempotency:
            _queue_idempotency(pipe, **idempotency)
        pipe.execute()
        return True

    return hot(write, False)


def snapshot_read(run_id) -> dict[str, Any] | None:
    raw = hot(lambda r: r.get(run_key(run_id)), None)
    return json.loads(raw) if raw else None


def _queue_idempotency(pipe, *, caller: str, key: str, fingerprint: str, run_id, ttl: int) -> None:
    value = json.dumps({"run_id": str(run_id), "fingerprint": fingerprint})
    pipe.set(idempotency_key(caller, key), value, ex=max(ttl, 1))


def idempotency_remember(*, caller: str, key: str, fingerprint: str, run_id, ttl: int) -> None:
    hot(lambda r: _queue_idempotency(r, caller=caller, key=key, fingerprint=fingerprint, run_id=run_id, ttl=ttl),
        None)


def idempotency_recall(*, caller: str, key: str) -> dict[str, str] | None:
    raw = hot(lambda r: r.get(idempotency_key(caller, key)), None)
    return json.loads(raw) if raw else None


def run_forget(run_id, idempotency: list[tuple[str, str]] = ()) -> None:
    """Remove every Redis key of a run (snapshot, steps, idempotency cache entries)."""
    keys = [run_key(run_id), steps_key(run_id), *(idempotency_key(s, k) for s, k in idempotency)]
    hot(lambda r: r.delete(*keys), 0)
