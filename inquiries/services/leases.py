"""A run's lease: which worker may write the run, for how long, and for which attempt.

Claim, renew, release, hand back and reap all happen here, and so does the guard every leased
write starts with: `autoflow_hold_lease` (migration 0004) aborts the transaction when the lease
was taken over, and `send_held` raises `LeaseLost` then: such a worker writes nothing. The
attempts are bounded: a run that used them up ends `error`, never `running` forever (see
docs/workflow.md and docs/reliability.md).
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.db import models, transaction
from django.utils import timezone

from core.request_id import get_request_id
from inquiries import payloads, realtime, taskqueue
from inquiries.events import run_event_record
from inquiries.models import Inquiry, LLMBackend, Run, RunEventType, RunStatus, RunStep

from ._common import after_commit, best_effort, end_locked, locked_run, queue_run_task
from ._pipeline import Statement, columns, from_row, rows, send

LEASE_LOST_SQLSTATE = "AF001"
HOLD_LEASE_SQL = "SELECT autoflow_hold_lease(%s, %s, %s)"


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
        return payloads.run_status_payload(self.run, steps=self.steps)


@dataclass(frozen=True)
class Busy:
    """Another worker holds a live lease on the run, until `until` unless it renews it."""

    until: datetime


def _lease_lost(exc: psycopg.Error) -> LeaseLost | None:
    return LeaseLost(str(exc.diag.message_primary)) if exc.sqlstate == LEASE_LOST_SQLSTATE else None


def send_held(lease: Lease, statements: Sequence[Statement], *,
              first: Sequence[Statement] = ()) -> list[list[tuple] | None]:
    """`statements` in one round trip and one transaction, behind the lease guard (after
    `first`, settings of the transaction); the rows each statement returned, the guard's and
    `first`'s included. `LeaseLost` when this worker no longer holds the run."""
    return send([*first, (HOLD_LEASE_SQL, [lease.run_id, lease.owner, lease.attempt]), *statements],
                refused=_lease_lost)


def _end_if_out_of_attempts(run: Run, *, max_attempts: int) -> bool:
    """The one way a run that used up its attempts ends (inside the caller's transaction, the run
    locked): `error`, never `running` forever. False when it has attempts left."""
    if run.attempts < max_attempts:
        return False
    end_locked(run, status=RunStatus.ERROR, error_code="attempts_exhausted",
               error=f"The run did not finish in {max_attempts} attempts.",
               message=f"Gave up after {max_attempts} attempts")
    return True


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
    run_columns, inquiry_columns, step_columns = columns(Run), columns(Inquiry), columns(RunStep)
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
    run = from_row(Run, rows(claimed, run_columns)[0])
    run.inquiry = from_row(Inquiry, rows(inquiries, inquiry_columns)[0])
    lease = Lease(run=run, owner=params["owner"], attempt=run.attempts, task_id=task_id,
                  steps=[from_row(RunStep, row) for row in rows(steps, step_columns)])
    if lease.attempt == 1:
        transaction.on_commit(best_effort(lambda: realtime.publish_run_listed(run_id, new=True)))
    return lease


def _explain_unclaimed(*, run_id, max_attempts: int) -> Busy | None:
    """Why the claim took nothing (the rare path, with the ORM): the run is gone or finished
    (None); another worker holds a live lease (`Busy` until it ends); the attempts are used up
    (the run ends `error`, None). Otherwise the lease it found lapsed since: `Busy` until now,
    so that the task comes back at once. Never None for a run that can still be claimed: its
    task would be dropped and only the reaper could take the run up again."""
    with transaction.atomic():
        run = locked_run(run_id)
        if run is None or run.is_terminal:
            return None
        now = timezone.now()
        if run.lease_owner and run.lease_expires_at and run.lease_expires_at > now:
            return Busy(until=run.lease_expires_at)
        if _end_if_out_of_attempts(run, max_attempts=max_attempts):
            return None
        return Busy(until=now)


def leases_renew(*, owner: str, runs: Mapping[Any, int | None], task_ids: Sequence[int],
                 hold_seconds: float) -> set[str]:
    """The heartbeat of a worker process, extended by `hold_seconds` from now in one round trip:
    the leases of its runs (`runs`: run id -> the id of the task that carries it, or None), each
    run's task only together with its lease, and the locks of its other tasks (`task_ids`: the
    scheduled ones). A run task is never held without its lease: a task handed back (its run was
    busy, released or finished) stays handed back even when this heartbeat read the worker's slots
    just before. Returns the runs it still holds."""
    statements: list[Statement] = []
    if runs:
        run_ids = [str(run_id) for run_id in runs]
        statements.append((
            "WITH renewed AS ("
            "  UPDATE inquiries_run SET lease_expires_at = now() + make_interval(secs => %s)"
            "  WHERE id = ANY(%s::uuid[]) AND lease_owner = %s AND status = 'running' RETURNING id"
            "), held AS ("
            "  UPDATE django_q_ormq SET lock = now() + make_interval(secs => %s) WHERE id IN ("
            "    SELECT t.task FROM unnest(%s::uuid[], %s::bigint[]) AS t(run, task) JOIN renewed r ON r.id = t.run)"
            "  RETURNING id"
            ") SELECT id FROM renewed",
            [hold_seconds, run_ids, owner, hold_seconds, run_ids, list(runs.values())]))
    if task_ids:
        statements.append(("UPDATE django_q_ormq SET lock = now() + make_interval(secs => %s) WHERE id = ANY(%s)",
                           [hold_seconds, list(task_ids)]))
    if not statements:
        return set()
    results = send(statements)
    return {str(row[0]) for row in results[0] or []} if runs else set()


def leases_hand_back(*, owner: str) -> None:
    """A worker process that stops with runs in flight ends its leases on them at once, so that
    another worker takes them up without waiting for the leases to expire."""
    send([("UPDATE inquiries_run SET lease_expires_at = now() WHERE lease_owner = %s "
           "AND status = 'running'", [owner])])


def run_release(*, run_id, owner: str, error: str, task_id: int | None = None, retry_in: float = 0) -> None:
    """An attempt failed with an unexpected error: give the lease back, and the run's task back to
    the queue after `retry_in` seconds, so that the run is retried (its attempts are bounded)."""
    with transaction.atomic():
        run = locked_run(run_id)
        if task_id is not None:
            taskqueue.hold(task_ids=[task_id], hold_seconds=retry_in)
        if run is None or run.is_terminal or run.lease_owner != owner:
            return
        run.lease_owner, run.lease_expires_at = "", timezone.now()
        run.save(update_fields=["lease_owner", "lease_expires_at", "updated_at"])
        run_event_record(run=run, type=RunEventType.RETRIED, actor_label=f"worker:{owner}",
                         message=f"Attempt {run.attempts} failed; it will be retried"[:500],
                         data={"attempt": run.attempts, "error": error[:1000]})
        after_commit(run.pk, None)


def _enqueue(run: Run) -> None:
    run.q_task_id = queue_run_task(run.pk, name=f"run-{run.pk}-{run.attempts}")
    run.queued_at = timezone.now()
    taskqueue.notify()


def runs_reap(*, max_attempts: int, stale_queue_seconds: int, now=None, grace_seconds: float = 0,
              dead_owners: frozenset[str] = frozenset()) -> dict[str, int]:
    """The safety net of every delivery problem (a lost task, a worker that died): running runs
    whose lease expired more than `grace_seconds` ago (their own task is normally handed out
    again first), whose lease holder is known to be dead (`dead_owners`), or that waited in the
    queue too long, are queued again, or ended `error` when out of attempts. A duplicate task is
    harmless: the lease lets only one worker run a run."""
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0}
    expired_before = now - timedelta(seconds=grace_seconds)
    gone = models.Q(lease_expires_at__lt=expired_before) | models.Q(
        lease_expires_at__isnull=True, queued_at__lt=now - timedelta(seconds=stale_queue_seconds))
    if dead_owners:
        gone |= models.Q(lease_owner__in=dead_owners)
    expired = Run.objects.filter(status=RunStatus.RUNNING).filter(gone).values_list("pk", flat=True)[:500]
    for run_id in list(expired):
        with transaction.atomic():
            run = Run.objects.select_for_update(skip_locked=True).filter(
                pk=run_id, status=RunStatus.RUNNING).first()
            if run is None:
                continue
            owner_dead = bool(run.lease_owner) and run.lease_owner in dead_owners
            lease_gone = owner_dead or (run.lease_expires_at is not None and run.lease_expires_at < expired_before)
            stale = run.lease_expires_at is None and run.queued_at and run.queued_at < now - timedelta(
                seconds=stale_queue_seconds)
            if not (lease_gone or stale):
                continue
            if _end_if_out_of_attempts(run, max_attempts=max_attempts):
                counts["failed"] += 1
                continue
            _enqueue(run)
            run.lease_owner, run.lease_expires_at = "", None
            run.save(update_fields=["q_task_id", "queued_at", "lease_owner", "lease_expires_at", "updated_at"])
            run_event_record(run=run, type=RunEventType.LEASE_EXPIRED, actor_label="reaper",
                             message="Queued again: its worker is gone" if owner_dead
                             else "Queued again: the worker's lease expired" if lease_gone
                             else "Queued again: it waited too long in the queue",
                             data={"attempts": run.attempts, "task_id": run.q_task_id})
            after_commit(run.pk, None)
            counts["requeued"] += 1
    return counts
