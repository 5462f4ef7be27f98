"""A run's life under its lease, as the runner drives it: claim, one step per node, finish.

Each change is one round trip to PostgreSQL and then one to Redis:
- PostgreSQL: the change's statements go out pipelined, as one transaction, led by the lease
  guard (`autoflow_hold_lease`, migration 0004). A worker whose lease was taken over writes
  nothing: the guard aborts the transaction and `LeaseLost` is raised. The LangGraph checkpoint
  statements that the run's saver recorded travel in the same transaction (orchestration/checkpointer.py).
- Redis, once committed: the run's snapshot (kept current in memory: the lease makes this worker
  the run's only writer), its step list and the live event, in one pipeline (inquiries/hotstate.py).
"""

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from autoflow.request_id import get_request_id

from . import hotstate, realtime, selectors, taskqueue
from .models import (
    Contact,
    EmailKind,
    EmailStatus,
    Inquiry,
    LeadScoreEntry,
    LLMBackend,
    OutboundEmail,
    Run,
    RunEvent,
    RunEventType,
    RunStatus,
    RunStep,
)

logger = logging.getLogger(__name__)

LEASE_LOST_SQLSTATE = "AF001"
HOLD_LEASE_SQL = "SELECT autoflow_hold_lease(%s, %s, %s)"
STEP_EVENT = "step"
TERMINAL_EVENT = {RunStatus.COMPLETED: "completed", RunStatus.ESCALATED: "escalated", RunStatus.ERROR: "error"}
# What a `step` event says of its run besides the step (the terminal event carries all of it).
STEP_EVENT_RUN_FIELDS = ("run_id", "status", "current_agent", "intent", "intent_confidence", "updated_at")
# Fields a workflow step may set on its run.
RUN_STEP_FIELDS = frozenset({
    "intent", "intent_confidence", "severity", "lead_score", "lead_tier", "escalate", "escalation_reason",
    "handoff_summary", "draft_response", "final_response",
})

Statement = tuple[str, Any]


class LeaseLost(Exception):
    """This worker no longer holds the run: another took it over (or it ended). Nothing was written."""


@dataclass
class Lease:
    """One attempt at a run, held by `owner` (a worker process)."""

    run: Run
    owner: str
    attempt: int
    task_id: int | None = None
    steps: list[RunStep] = field(default_factory=list)

    @property
    def run_id(self) -> uuid.UUID:
        return self.run.pk

    @property
    def recorded(self) -> dict[str, dict]:
        """Outputs of the steps recorded so far, by step key (a resumed run replays them)."""
        return {step.key: step.outputs for step in self.steps}

    def snapshot(self) -> dict[str, Any]:
        return selectors.run_status_payload(self.run, steps=self.steps)


def send(statements: Sequence[Statement]) -> list[list[tuple] | None]:
    """Execute `statements` in order, in one round trip and one transaction (psycopg's pipeline:
    everything up to its sync is one implicit transaction); the rows each returned, or None."""
    with connection.wrap_database_errors:
        connection.ensure_connection()
        raw = connection.connection
        cursors = []
        try:
            with raw.pipeline():
                for sql, params in statements:
                    cursor = psycopg.Cursor(raw)
                    cursor.execute(sql, params)
                    cursors.append(cursor)
        except psycopg.Error as exc:
            if exc.sqlstate == LEASE_LOST_SQLSTATE:
                raise LeaseLost(str(exc.diag.message_primary)) from None
            raise
        return [cursor.fetchall() if cursor.description else None for cursor in cursors]


def _insert(instance, *, returning: str = "") -> Statement:
    from .services import _insert_parts

    columns, values = _insert_parts(instance)
    sql = (f"INSERT INTO {instance._meta.db_table} ({', '.join(columns)}) "
           f"VALUES ({', '.join(['%s'] * len(values))})" + (f" RETURNING {returning}" if returning else ""))
    return sql, values


def _update_run(run_id, values: dict[str, Any], *, extra: str = "") -> Statement:
    fields = [Run._meta.get_field(name) for name in values]
    sets = [f"{connection.ops.quote_name(f.column)} = %s" for f in fields]
    params = [f.get_db_prep_save(values[f.name], connection) for f in fields]
    return f"UPDATE inquiries_run SET {', '.join(sets + ([extra] if extra else []))} WHERE id = %s", [*params, run_id]


def _from_row(model, row: dict[str, Any]):
    """A model instance from a raw row (column → value), JSON columns decoded as the ORM would."""
    names, values = [], []
    for f in model._meta.concrete_fields:
        value = row[f.column]
        if hasattr(f, "from_db_value"):
            value = f.from_db_value(value, None, connection)
        names.append(f.attname)
        values.append(value)
    return model.from_db(connection.alias, names, values)


def _rows(cursor_rows: list[tuple] | None, columns: list[str]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in cursor_rows or []]


def _columns(model) -> list[str]:
    return [f.column for f in model._meta.concrete_fields]


def _event(run_id, type: RunEventType, message: str, data: dict | None = None, *, at=None,
           actor_label: str = "system") -> RunEvent:
    return RunEvent(run_id=run_id, type=type, message=message[:500], data=data or {}, actor_label=actor_label,
                    request_id=get_request_id() or "", created_at=at or timezone.now())


_CLAIM_SQL = """
UPDATE inquiries_run SET attempts = attempts + 1, lease_owner = %(owner)s,
    lease_expires_at = now() + make_interval(secs => %(hold)s),
    started_at = coalesce(started_at, %(now)s), updated_at = %(now)s,
    llm_backend = CASE WHEN attempts = 0 OR llm_backend = '' THEN %(backend)s ELSE llm_backend END,
    llm_model = CASE WHEN attempts = 0 OR llm_backend = '' THEN %(model)s ELSE llm_model END,
    llm_model_digest = CASE WHEN attempts = 0 OR llm_backend = '' THEN %(digest)s ELSE llm_model_digest END,
    llm_server_version = CASE WHEN attempts = 0 OR llm_backend = '' THEN %(server)s ELSE llm_server_version END
WHERE id = %(run)s AND status = 'running' AND attempts < %(max)s
  AND (lease_owner = '' OR lease_expires_at IS NULL OR lease_expires_at <= now() OR lease_owner = %(owner)s)
RETURNING {columns}
"""
_CLAIM_EVENT_SQL = """
INSERT INTO inquiries_runevent (run_id, type, message, data, actor_label, request_id, created_at)
SELECT id, CASE WHEN attempts = 1 THEN 'started' ELSE 'retried' END,
       CASE WHEN attempts = 1 THEN %(started)s ELSE format('Attempt %%s of %%s', attempts, %(max)s::int) END,
       jsonb_build_object('attempt', attempts, 'worker', %(owner)s::text, 'llm_backend', llm_backend,
                          'llm_model', llm_model),
       %(label)s, %(request_id)s, %(now)s
FROM inquiries_run WHERE id = %(run)s AND lease_owner = %(owner)s AND updated_at = %(now)s
"""


def _short(value: str, model_field: str) -> str:
    return value[:Run._meta.get_field(model_field).max_length]


@dataclass(frozen=True)
class Busy:
    """Another worker holds a live lease on the run, until `until` unless it renews it."""

    until: datetime


def run_claim(*, run_id, owner: str, hold_seconds: float, max_attempts: int, engine: dict[str, str] | None = None,
              task_id: int | None = None) -> Lease | Busy | None:
    """Take the run's lease for one attempt, in one round trip. `Busy` when another worker holds a
    live lease; None when there is nothing to do: the run is gone or finished, or its attempts
    are used up (then the run ends `error`, so that it is never `running` forever)."""
    engine = engine or {}
    now = timezone.now()
    backend = engine.get("llm_backend", "")
    params = {
        "owner": owner[:200], "hold": hold_seconds, "now": now, "run": run_id, "max": max_attempts,
        "backend": _short(backend, "llm_backend"), "model": _short(engine.get("llm_model", ""), "llm_model"),
        "digest": _short(engine.get("llm_model_digest", ""), "llm_model_digest"),
        "server": _short(engine.get("llm_server_version", ""), "llm_server_version"),
        "label": f"worker:{owner}"[:200], "request_id": get_request_id() or "",
        "started": f"Started on {LLMBackend(backend).label if backend else 'the workflow'}",
    }
    run_columns, inquiry_columns, step_columns = _columns(Run), _columns(Inquiry), _columns(RunStep)
    claimed, _, inquiries, steps = send([
        (_CLAIM_SQL.format(columns=", ".join(run_columns)), params),
        (_CLAIM_EVENT_SQL, params),
        (f"SELECT {', '.join('i.' + c for c in inquiry_columns)} FROM inquiries_inquiry i "
         "JOIN inquiries_run r ON r.inquiry_id = i.id WHERE r.id = %s AND r.lease_owner = %s AND r.updated_at = %s",
         [run_id, params["owner"], now]),
        (f"SELECT {', '.join(step_columns)} FROM inquiries_runstep WHERE run_id = %s ORDER BY sequence", [run_id]),
    ])
    if not claimed:
        return _explain_unclaimed(run_id=run_id, max_attempts=max_attempts)
    run = _from_row(Run, _rows(claimed, run_columns)[0])
    run.inquiry = _from_row(Inquiry, _rows(inquiries, inquiry_columns)[0])
    lease = Lease(run=run, owner=params["owner"], attempt=run.attempts, task_id=task_id,
                  steps=[_from_row(RunStep, row) for row in _rows(steps, step_columns)])
    if lease.attempt == 1:
        transaction.on_commit(_best_effort(lambda: realtime.publish_run_listed(run_id, new=True)))
    return lease


def _explain_unclaimed(*, run_id, max_attempts: int) -> Busy | None:
    """Why the claim took nothing (the rare path, with the ORM): another live lease (`Busy`), or
    the attempts are used up (the run ends `error`), or the run is gone or finished (None)."""
    from .services import finish_out_of_attempts

    with transaction.atomic():
        run = Run.objects.select_related("inquiry").select_for_update(of=("self",)).filter(pk=run_id).first()
        if run is None or run.is_terminal:
            return None
        if run.lease_owner and run.lease_expires_at and run.lease_expires_at > timezone.now():
            return Busy(until=run.lease_expires_at)
        if run.attempts >= max_attempts:
            finish_out_of_attempts(run, max_attempts=max_attempts)
        return None


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
    events = [_event(run_id, type, message, data, at=now) for type, message, data in notes]
    events.append(_event(run_id, RunEventType.STEP, f"{node}: {action}", {"sequence": sequence, "node": node}, at=now))
    results = send([
        (HOLD_LEASE_SQL, [run_id, lease.owner, lease.attempt]),
        _update_run(run_id, {**run_fields, "current_agent": node, "updated_at": now},
                    extra=f"lease_expires_at = now() + make_interval(secs => {float(hold_seconds)})"),
        _insert(step, returning="id"),
        *statements,
        *(_insert(event) for event in events),
        *carried,
    ])
    step.id = results[2][0][0]
    for name, value in run_fields.items():
        setattr(lease.run, name, value)
    lease.run.current_agent, lease.run.updated_at = node, now
    lease.steps.append(step)
    payload, step_data = lease.snapshot(), selectors.step_payload(step)
    event = {"type": STEP_EVENT, "step": step_data, "run": {k: payload[k] for k in STEP_EVENT_RUN_FIELDS}}
    transaction.on_commit(_best_effort(lambda: hotstate.run_progress(
        payload, step=step_data, events=[(realtime.run_group(run_id), realtime.run_event_message(event))])))
    return step


def run_finish(lease: Lease, *, status: str, message: str = "", carried: Sequence[Statement] = ()) -> None:
    """End the leased run `completed` or `escalated` with its terminal event, and remove its task
    from the queue: one round trip, one transaction."""
    if status not in (RunStatus.COMPLETED, RunStatus.ESCALATED):
        raise ValueError(f"{status!r} is not how a workflow ends")
    now = timezone.now()
    run = lease.run
    values = {"status": status, "finished_at": now, "current_agent": "done", "lease_owner": "",
              "lease_expires_at": None, "updated_at": now}
    if status == RunStatus.ESCALATED:
        values["escalate"] = True
    event_type = RunEventType.COMPLETED if status == RunStatus.COMPLETED else RunEventType.ESCALATED
    ack = taskqueue.ack_statement(lease.task_id)
    send([
        (HOLD_LEASE_SQL, [run.pk, lease.owner, lease.attempt]),
        _update_run(run.pk, values),
        _insert(_event(run.pk, event_type, message or RunStatus(status).label,
                       {"error_code": "", "escalation_reason": run.escalation_reason}, at=now)),
        *([ack] if ack else []),
        *carried,
    ])
    for name, value in values.items():
        setattr(run, name, value)
    payload = lease.snapshot()
    events = [(realtime.run_group(run.pk), realtime.run_event_message({"type": TERMINAL_EVENT[status], "run": payload})),
              (realtime.RUNS_GROUP, realtime.run_listed_message(run.pk, new=False))]
    transaction.on_commit(_best_effort(lambda: hotstate.run_progress(payload, events=events)))


def leases_renew(*, owner: str, run_ids: Sequence, task_ids: Sequence[int], hold_seconds: float) -> set[str]:
    """The heartbeat of a worker process: its runs' leases and its tasks' locks, extended by
    `hold_seconds` from now, in one round trip. Returns the runs it still holds."""
    statements: list[Statement] = []
    if run_ids:
        statements.append((
            "UPDATE inquiries_run SET lease_expires_at = now() + make_interval(secs => %s) "
            "WHERE id = ANY(%s) AND lease_owner = %s AND status = 'running' RETURNING id",
            [hold_seconds, list(run_ids), owner]))
    if task_ids:
        statements.append(("UPDATE django_q_ormq SET lock = now() + make_interval(secs => %s) WHERE id = ANY(%s)",
                           [hold_seconds, list(task_ids)]))
    if not statements:
        return set()
    results = send(statements)
    return {str(row[0]) for row in results[0] or []} if run_ids else set()


def _best_effort(callback):
    """The hot plane and live events follow a committed change; a failure there is logged and
    must never fail the run (on_commit callbacks raise into the code that committed)."""
    def run() -> None:
        try:
            callback()
        except Exception:
            logger.exception("updating the hot plane after a commit failed")

    return run


# --- Side effects of a run, each written with the step that causes it ------------------------------

def contact_statements(lease: Lease, *, intent: str) -> list[Statement] | None:
    """Count the run's inquiry on its sender's contact (created on first contact), as statements
    for the step that records it. An inquiry keeps its contact, so a resumed run does not count
    it twice. None for a replay, which joins its original's contact (services.contact_record_inquiry)."""
    from .services import _insert_parts

    inquiry, now = lease.run.inquiry, timezone.now()
    if inquiry.contact_id is not None:
        return [("UPDATE inquiries_contact SET last_intent = %s, updated_at = %s WHERE id = %s AND last_intent <> %s",
                 [intent, now, inquiry.contact_id, intent])]
    if lease.run.replay_of_id is not None:
        return None
    contact = Contact(email=inquiry.sender_email.strip().lower(), name=inquiry.sender_name[:200], inquiry_count=1,
                      last_intent=intent, last_inquiry_at=inquiry.created_at)
    columns, values = _insert_parts(contact)
    return [(
        f"WITH c AS (INSERT INTO inquiries_contact ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(values))}) "
        "ON CONFLICT (email) DO UPDATE SET inquiry_count = inquiries_contact.inquiry_count + 1, "
        "last_intent = EXCLUDED.last_intent, last_inquiry_at = EXCLUDED.last_inquiry_at, "
        "name = CASE WHEN inquiries_contact.name = '' THEN EXCLUDED.name ELSE inquiries_contact.name END, "
        "updated_at = EXCLUDED.updated_at RETURNING id) "
        "UPDATE inquiries_inquiry SET contact_id = (SELECT id FROM c) WHERE id = %s AND contact_id IS NULL",
        [*values, inquiry.pk])]


def lead_score_statements(lease: Lease, *, score: int, tier: str, signals: dict[str, Any]) -> list[Statement]:
    """Keep the run's lead score in its sender's history and on the contact (created on first
    contact, not yet counted: the inquiry is counted when the run's audit step records it), as a
    statement for the step that scored it."""
    from .services import _insert_parts

    inquiry = lease.run.inquiry
    contact = Contact(email=inquiry.sender_email.strip().lower(), name=inquiry.sender_name[:200], lead_score=score,
                      lead_tier=tier)
    columns, values = _insert_parts(contact)
    entry = LeadScoreEntry(run_id=lease.run_id, score=score, tier=tier, signals=signals)
    entry_columns, entry_values = _insert_parts(entry, skip=("contact",))
    return [(
        f"WITH c AS (INSERT INTO inquiries_contact ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(values))}) "
        "ON CONFLICT (email) DO UPDATE SET lead_score = EXCLUDED.lead_score, lead_tier = EXCLUDED.lead_tier, "
        "updated_at = EXCLUDED.updated_at RETURNING id) "
        f"INSERT INTO inquiries_leadscoreentry ({', '.join(entry_columns)}, contact_id) "
        f"SELECT {', '.join(['%s'] * len(entry_values))}, c.id FROM c",
        [*values, *entry_values])]


def reply_send_once(lease: Lease, *, body: str) -> tuple[OutboundEmail, list[Statement]]:
    """Send the run's reply through Django's e-mail backend, at most once whatever the retries: the
    unique (run, kind) row is committed before sending, so a resumed run finds it and sends
    nothing. A crash between the commit and the send leaves the row `pending`: never sent twice,
    and visible to operators. Returns the e-mail and the statements that record how the send went
    (its status, the `reply_sent` event), for the step that sent it."""
    from .services import reply_subject

    run = lease.run
    email = OutboundEmail(run_id=run.pk, kind=EmailKind.REPLY, to=run.inquiry.sender_email,
                          subject=reply_subject(run.inquiry.subject), body=body)
    insert_sql, values = _insert(email, returning="id")
    insert_sql = insert_sql.replace(" RETURNING id", " ON CONFLICT (run_id, kind) DO NOTHING RETURNING id")
    # Committed synchronously whatever the worker's connection says: this row is the guard.
    _, _, inserted = send([("SELECT set_config('synchronous_commit', 'on', true)", None),
                           (HOLD_LEASE_SQL, [run.pk, lease.owner, lease.attempt]), (insert_sql, values)])
    if not inserted:
        return OutboundEmail.objects.get(run_id=run.pk, kind=EmailKind.REPLY), []
    email.id = inserted[0][0]
    try:
        send_mail(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to], fail_silently=False)
    except Exception as exc:  # SMTP errors come in many types; the run records the failure
        email.status, email.error = EmailStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        return email, [("UPDATE inquiries_outboundemail SET status = %s, error = %s WHERE id = %s",
                        [email.status, email.error, email.pk])]
    email.status, email.sent_at = EmailStatus.SENT, timezone.now()
    return email, [
        ("UPDATE inquiries_outboundemail SET status = %s, sent_at = %s WHERE id = %s",
         [email.status, email.sent_at, email.pk]),
        _insert(_event(run.pk, RunEventType.REPLY_SENT, f"Reply sent to {email.to}", {"email_id": email.pk})),
    ]
