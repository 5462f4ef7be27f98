"""Live run events over Channels (hints: pages and clients re-read state; docs/api.md, "WebSocket").

Group names come from here only. The worker (another process) publishes with `publish_run_event`
after its transaction commits; channels-redis carries the event to every web process.
"""

import asyncio
import logging
import os
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger("autoflow.realtime")


def run_group(run_id) -> str:
    return f"run.{run_id}"


RUNS_GROUP = "runs"  # every run's arrival and end, for the console's history page


PUBLISH_TIMEOUT_SECONDS = 2.0


class _Publisher:
    """One event loop per process, in a thread of its own, for sending from sync code.

    `async_to_sync(layer.group_send)` would start a new loop, and with it a new Redis connection,
    for every event (about 6 ms each here); this loop keeps channels-redis's connection. A send
    still waits for its result, so a run's events go out in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked worker needs its own
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="channel-layer-publisher", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def send(self, group: str, message: dict[str, Any]) -> None:
        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("no channel layer configured")
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), self._running_loop())
        future.result(timeout=PUBLISH_TIMEOUT_SECONDS)


_publisher = _Publisher()


def run_event_message(event: dict[str, Any]) -> dict[str, Any]:
    return {"type": "run.event", "event": event}


def run_listed_message(run_id, *, new: bool) -> dict[str, Any]:
    return {"type": "run.listed", "run_id": str(run_id), "new": new}


def wire(group: str, message: dict[str, Any]) -> tuple[str, bytes]:
    """The Redis channel and bytes that channels-redis's pub/sub layer would PUBLISH for a group
    message, so that the worker can send it in a pipeline of its own (inquiries/hotstate.py)."""
    layer = get_channel_layer()
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "asgi")
    return f"{prefix}__group__{group}", layer.serialize(message)


def publish_run_event(run_id, event: dict[str, Any]) -> bool:
    """Send one event ({"type": "step" | "completed" | "escalated" | "error", …}) to the run's
    subscribers. Never raises: a lost hint must not fail a run."""
    try:
        _publisher.send(run_group(run_id), run_event_message(event))
    except Exception as exc:  # the channel layer is best effort by design
        logger.warning("could not publish %s for run %s: %s", event.get("type"), run_id, type(exc).__name__)
        return False
    return True


def publish_run_listed(run_id, *, new: bool) -> bool:
    """Tell history pages that a run arrived (`new`) or changed status. Never raises."""
    try:
        _publisher.send(RUNS_GROUP, run_listed_message(run_id, new=new))
    except Exception as exc:  # best effort, like every live hint
        logger.warning("could not publish the listing of run %s: %s", run_id, type(exc).__name__)
        return False
    return True

