"""What happens to a run: a workflow step recorded, the run finished (by its worker under the
lease, or by anyone else without it), the run deleted.

A leased write is one round trip to PostgreSQL and then one to Redis:
- PostgreSQL: the change's statements go out pipelined, as one transaction, led by the lease
  guard (leases.py `send_held`): a worker whose lease was taken over writes nothing. The
  LangGraph checkpoint statements that the run's saver recorded travel in the same transaction
  (`carried`, orchestration/checkpointer.py).
- Redis, once committed: the run's snapshot (kept current in memory: the lease makes this worker
  the run's only writer), its step list and the live event, in one pipeline (inquiries/hotstate.py).
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.timestamps import utc_iso
from inquiries import hotstate, payloads, realtime, taskqueue
from inquiries.models import (
    AuditAction,
    Contact,
    Inquiry,
    LeadScoreEntry,
    Run,
    RunEventType,
    RunStatus,
    RunStep,
)

from ._common import RUN_STEP_FIELDS, best_effort
from ._pipeline import Statement, event, insert, update_run
from .audit import audit_record
from .leases import Lease, send_held
from .privacy import checkpoints_forget
from .webhooks import TERMINAL_EVENTS, enqueue_statement

STEP_EVENT = "step"


def run_step_record(lease: Lease, *, key: str, node: str, agent: str, action: str, output: str = "",
                    inputs: dict | None = None, outputs: dict | None = None, llm_backend: str = "", model: str = "",
                    prompt_tokens: int | None = None, completion_tokens: int | None = None, started_at,
                    finished_at, error: str = "", run_fields: dict[str, Any] | None = None,
                    notes: Iterable[tuple[RunEventType, str, dict]] = (), hold_seconds: float,
                    statements: Sequence[Statement] = (), carried: Sequence[Statement] = ()) -> RunStep:
    """Record one finished workflow step with its run fields, its `step` event (and `notes`, other
    events of the step, before it) and the step's own `statements` (its side effects), renewing
    the lease: one round trip, one transaction."""
    run_fields = dict(run_fields or {})
    unknown = set(run_fields) - RUN_STEP_FIELDS
    if unknown:
        raise ValueError(f"a step may not set {sorted(unknown)}")
    now = timezone.now()
    run_id = lease.run_id
    sequence = len(lease.steps) + 1
    duration = max(int((finished_at - started_at).total_seconds() * 1000), 0)
    step = RunStep(run_id=run_id, sequence=sequence, key=key, node=node, agent=agent, action=action[:200],
                   output=output, inputs=inputs or {}, outputs=outputs or {}, llm_backend=llm_backend,
                   model=model[:200], prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                   duration_ms=duration, attempt=lease.attempt, error=error, started_at=started_at,
                   finished_at=finished_at)
    events = [event(run_id, type, message, data, at=now) for type, message, data in notes]
    events.append(event(run_id, RunEventType.STEP, f"{node}: {action}", {"sequence": sequence, "node": node}, at=now))
    results = send_held(lease, [
        update_run(run_id, {**run_fields, "current_agent": node, "updated_at": now},
                   extra=f"lease_expires_at = now() + make_interval(secs => {float(hold_seconds)})"),
        insert(step, returning="id"),
        *statements,
        *(insert(e) for e in events),
        *carried,
    ])
    step.id = results[2][0][0]  # after the guard and the run's update
    for name, value in run_fields.items():
        setattr(lease.run, name, value)
    lease.run.current_agent, lease.run.updated_at = node, now
    lease.steps.append(step)
    payload, step_data = lease.snapshot(), payloads.step_payload(step)
    message = {"type": STEP_EVENT, "step": step_data, "run": payloads.step_event_run(payload)}
    transaction.on_commit(best_effort(lambda: hotstate.run_progress(
        payload, step=step_data, events=[(realtime.run_group(run_id), realtime.run_event_message(message))])))
    return step


def run_finish_under_lease(lease: Lease, *, status: str, message: str = "",
                           carried: Sequence[Statement] = ()) -> None:
    """The worker ends its leased run `completed` or `escalated` with its terminal event, queues
    its webhook deliveries and removes its task from the queue: one round trip, one transaction."""
    if status not in (RunStatus.COMPLETED, RunStatus.ESCALATED):
        raise ValueError(f"{status!r} is not how a workflow ends")
    now = timezone.now()
    run = lease.run
    values = {"status": status, "finished_at": now, "current_agent": "done", "lease_owner": "",
              "lease_expires_at": None, "updated_at": now}
    if status == RunStatus.ESCALATED:
        values["escalate"] = True
    ack = taskqueue.ack_statement(lease.task_id)
    finished = {**lease.snapshot(), "status": str(status), "current_agent": "done", "escalate": run.escalate
                or status == RunStatus.ESCALATED, "updated_at": utc_iso(now)}
    send_held(lease, [
        enqueue_statement(run.pk, TERMINAL_EVENTS[status], finished),
        update_run(run.pk, values),
        insert(event(run.pk, Run.TERMINAL_EVENT_TYPES[status], message or RunStatus(status).label,
                     {"error_code": "", "escalation_reason": run.escalation_reason}, at=now)),
        *([ack] if ack else []),
        *carried,
    ])
    for name, value in values.items():
        setattr(run, name, value)
    payload = lease.snapshot()
    events = [(realtime.run_group(run.pk), realtime.run_event_message({"type": str(status), "run": payload})),
              (realtime.RUNS_GROUP, realtime.run_listed_message(run.pk, new=False))]
    transaction.on_commit(best_effort(lambda: hotstate.run_progress(payload, events=events)))


def run_delete(*, run_id, actor=None, actor_label: str = "", ip: str = "") -> bool:
    """Delete a run with its steps, events, lead score, checkpoints and Redis keys; its inquiry goes
    too when no other run uses it, and then its contact when it has no inquiry left. The deletion
    is audited (who, from where, what the run was, never its personal data) in the same
    transaction. `actor`: the signed-in user; `actor_label` for other callers."""
    with transaction.atomic():
        run = Run.objects.select_related("inquiry").select_for_update(of=("self",)).filter(pk=run_id).first()
        if run is None:
            return False
        claims = list(run.idempotency_records.values_list("caller", "key"))
        inquiry = run.inquiry
        # What the run left elsewhere goes with it: its lead score and its LangGraph checkpoints.
        LeadScoreEntry.objects.filter(run_id=run_id).delete()
        checkpoints_forget([run_id])
        run.delete()
        orphaned = Inquiry.objects.filter(pk=inquiry.pk, runs__isnull=True).delete()[0] > 0
        if orphaned and inquiry.contact_id:  # and the contact, when this was its last inquiry
            Contact.objects.filter(pk=inquiry.contact_id, inquiries__isnull=True).delete()
        audit_record(action=AuditAction.RUN_DELETED, target=str(run_id), actor=actor, actor_label=actor_label, ip=ip,
                     detail={"status": run.status, "intent": run.intent, "created_at": utc_iso(run.created_at),
                             "inquiry_id": inquiry.pk, "inquiry_deleted": orphaned, "source": inquiry.source,
                             "api_client_id": inquiry.api_client_id, "idempotency_claims": len(claims)})
    hotstate.run_forget(run_id, claims)
    return True


def inquiry_delete(*, inquiry_id, actor=None, actor_label: str = "", ip: str = "") -> int:
    """Delete an inquiry: each of its runs through `run_delete` (Redis keys, audit), the last of
    which takes the inquiry with it; an inquiry without runs is deleted and audited alone.
    Returns how many runs were deleted."""
    deleted = sum(run_delete(run_id=run_id, actor=actor, actor_label=actor_label, ip=ip)
                  for run_id in Run.objects.filter(inquiry_id=inquiry_id).values_list("pk", flat=True))
    with transaction.atomic():
        inquiry = Inquiry.objects.select_for_update(of=("self",)).filter(pk=inquiry_id, runs__isnull=True).first()
        if inquiry is not None:
            inquiry.delete()
            audit_record(action=AuditAction.INQUIRY_DELETED, target=str(inquiry_id), actor=actor,
                         actor_label=actor_label, ip=ip,
                         detail={"source": inquiry.source, "created_at": utc_iso(inquiry.created_at)})
    return deleted
