"""Live run events over Channels (DESIGN §4.5: hints; pages and clients re-read state).

Group names come from here only. The worker (another process) publishes with `publish_run_event`
after its transaction commits; channels-redis carries the event to every web process.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("autoflow.realtime")

TERMINAL_EVENTS = ("completed", "escalated", "error")


def run_group(run_id) -> str:
    return f"run.{run_id}"


def publish_run_event(run_id, event: dict[str, Any]) -> bool:
    """Send one event ({"type": "step" | "completed" | "escalated" | "error", …}) to the run's
    subscribers. Never raises: a lost hint must not fail a run."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async_to_sync(layer.group_send)(run_group(run_id), {"type": "run.event", "event": event})
    except Exception as exc:  # the channel layer is best effort by design
        logger.warning("could not publish %s for run %s: %s", event.get("type"), run_id, type(exc).__name__)
        return False
    return True


def publish_run_event_on_commit(run_id, event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish_run_event(run_id, event))
