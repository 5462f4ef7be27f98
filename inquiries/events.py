"""The only writer of RunEvent rows (the run's append-only audit log)."""

from typing import Any

from core.request_id import get_request_id

from .models import Run, RunEvent, RunEventType


def run_event_record(
    *,
    run: Run,
    type: RunEventType,
    message: str = "",
    data: dict[str, Any] | None = None,
    actor=None,
    actor_label: str = "",
) -> RunEvent:
    if actor is not None and not actor_label:
        actor_label = f"user:{actor.get_username()}"
    return RunEvent.objects.create(
        run=run,
        type=type,
        message=message[:500],
        data=data or {},
        actor=actor,
        actor_label=actor_label or "system",
        request_id=get_request_id() or "",
    )
