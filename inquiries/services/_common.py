"""What several service modules share: the run's locked row, the ORM path that ends a run, the
hot plane refreshed after a commit, and the queue's broker."""

import logging
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.tasks import async_task

from core import metrics
from inquiries import hotstate, payloads, realtime, selectors
from inquiries.events import run_event_record
from inquiries.models import INTENT_FAMILY, Run, RunStatus

from .webhooks import TERMINAL_EVENTS, enqueue

logger = logging.getLogger("inquiries.services")

# Fields a workflow step may set on its run.
RUN_STEP_FIELDS = frozenset({
    "intent", "intent_confidence", "severity", "lead_score", "lead_tier", "escalate", "escalation_reason",
    "escalation_reasons", "handoff_summary", "draft_response", "final_response", "joined_escalation_id",
    "confidence_band", "language", "language_confidence", "sentiment", "entities", "citations",
})


def best_effort(callback):
    """The hot plane and live events follow a committed change; a failure there is logged and
    must never fail the run (on_commit callbacks raise into the code that committed)."""
    def run() -> None:
        try:
            callback()
        except Exception:
            logger.exception("updating the hot plane after a commit failed")

    return run


def after_commit(run_id, event: dict[str, Any] | None) -> None:
    """Once the change is committed: refresh the Redis snapshot and step list, then tell the
    subscribers of run.<run_id>. Both are best effort: Postgres already has the truth."""
    def publish() -> None:
        payload = selectors.run_status_from_db(run_id=run_id)
        if payload is None:
            return
        hotstate.snapshot_write(payload)
        if event is not None:
            realtime.publish_run_event(run_id, {**event, "run": payload})

    transaction.on_commit(best_effort(publish))


def locked_run(run_id) -> Run | None:
    """The run with its inquiry, its row locked until the caller's transaction ends."""
    return Run.objects.select_related("inquiry").select_for_update(of=("self",)).filter(pk=run_id).first()


def end_locked(run: Run, *, status: str, error_code: str = "", error: str = "", message: str = "",
               fields: dict[str, Any] | None = None, data: dict | None = None) -> None:
    """End a run locked by the caller's transaction (the ORM path, outside a worker's pipelined
    writes): its status, its terminal event, its webhook deliveries, and once committed the hot plane and live events."""
    now = timezone.now()
    for field, value in (fields or {}).items():
        setattr(run, field, value)
    run.status = status
    run.finished_at = now
    run.current_agent = "done" if status != RunStatus.ERROR else "failed"
    run.lease_owner, run.lease_expires_at = "", None
    if status == RunStatus.ESCALATED:
        run.escalate = True
    if status == RunStatus.ERROR:
        run.error_code, run.error = error_code[:64], error
    run.save()
    run_event_record(run=run, type=Run.TERMINAL_EVENT_TYPES[status], actor_label="system",
                     message=message or run.get_status_display(),
                     data={"error_code": error_code, "escalation_reason": run.escalation_reason, **(data or {})})
    enqueue(run.pk, TERMINAL_EVENTS[status], payloads.run_status_payload(run))
    after_commit(run.pk, {"type": str(status)})
    labels = {"status": str(status), "intent": run.intent, "family": str(INTENT_FAMILY.get(run.intent, "")),
              "band": run.confidence_band, "backend": run.llm_backend,
              "seconds": (now - run.created_at).total_seconds()}
    transaction.on_commit(lambda: metrics.run_finished(**labels))
    run_id = run.pk
    transaction.on_commit(lambda: realtime.publish_run_listed(run_id, new=False))


@lru_cache(maxsize=1)
def broker():
    return get_broker()


def queue_run_task(run_id, *, name: str) -> str:
    """Put the task that executes the run on django-q2's queue (the ORM broker: the task row
    commits with the caller's transaction); its id."""
    return async_task(settings.AUTOFLOW_RUN_TASK, str(run_id), task_name=name, group="runs", broker=broker()) or ""
