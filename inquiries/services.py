"""Writes. Interfaces call one of these; each keeps its own transaction and invariants."""

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import psycopg
from django.conf import settings
from django.core.mail import send_mail
from django.db import OperationalError, connection, models, transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.tasks import async_task

from autoflow.request_id import get_request_id

from . import hotstate, realtime, selectors, taskqueue
from .errors import ApiError, ErrorCode
from .events import run_event_record
from .models import (
    ApiClient,
    Contact,
    EmailKind,
    EmailStatus,
    IdempotencyRecord,
    Inquiry,
    InquirySource,
    OutboundEmail,
    Run,
    RunEvent,
    RunEventType,
    RunStatus,
)
from .runs import RUN_STEP_FIELDS, TERMINAL_EVENT, _best_effort

logger = logging.getLogger(__name__)


def api_client_create(*, name: str, created_by=None, rate_limit: str = "", notes: str = "") -> tuple[ApiClient, str]:
    """Create a client and return it with its key. The key is shown once; only its hash is kept."""
    raw_key = ApiClient.KEY_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(
        name=name,
        key_prefix=raw_key[:10],
        key_hash=ApiClient.hash_key(raw_key),
        rate_limit=rate_limit,
        notes=notes,
        created_by=created_by,
    )
    client.full_clean()
    client.save()
    return client, raw_key


@transaction.atomic
def api_client_set_active(*, client: ApiClient, active: bool) -> ApiClient:
    client.is_active = active
    client.revoked_at = None if active else timezone.now()
    client.save(update_fields=["is_active", "revoked_at", "updated_at"])
    return client


# --- Intake ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Caller:
    """Who is calling the API: the scope idempotency keys live in, and the label audit events show."""

    scope: str
    label: str
    ip: str
    api_client_id: int | None = None
    rate_limit: str = ""


@dataclass(frozen=True)
class Acceptance:
    run_id: uuid.UUID
    status: str
    replay: bool


def body_fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _in_progress() -> ApiError:
    return ApiError(409, ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS,
                    "A request with this Idempotency-Key is still being processed; retry shortly.",
                    headers={"Retry-After": "1"})


def _replay_or_conflict(*, run_id, stored_fingerprint: str, fingerprint: str) -> Acceptance | None:
    if stored_fingerprint != fingerprint:
        raise ApiError(422, ErrorCode.IDEMPOTENCY_KEY_REUSED,
                       "This Idempotency-Key was already used with a different request body.")
    status = selectors.run_status(run_id=run_id)
    if status is None:  # the run was deleted since: the key is free again
        return None
    return Acceptance(run_id=uuid.UUID(str(run_id)), status=status["status"], replay=True)


def inquiry_accept(*, data: dict[str, Any], raw_payload: dict[str, Any], caller: Caller,
                   idempotency_key: str | None, fingerprint: str, source: str = InquirySource.API,
                   replay_of: Run | None = None, actor=None) -> Acceptance:
    """Accept an inquiry durably: the idempotency claim, inquiry, run, its first events and the
    queued task commit in one PostgreSQL transaction, or nothing does. Redis is told afterwards."""
    if idempotency_key:
        cached = hotstate.idempotency_recall(scope=caller.scope, key=idempotency_key)
        if cached:
            replay = _replay_or_conflict(run_id=cached["run_id"], stored_fingerprint=cached["fingerprint"],
                                         fingerprint=fingerprint)
            if replay:
                return replay
    for _ in range(3):
        try:
            return _accept_new(data=data, raw_payload=raw_payload, caller=caller, source=source,
                               idempotency_key=idempotency_key, fingerprint=fingerprint,
                               replay_of=replay_of, actor=actor)
        except _KeyTaken:
            pass
        except OperationalError as exc:
            if isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                raise _in_progress() from exc
            raise
        # Someone else claimed the key first (their transaction committed while ours waited).
        record = IdempotencyRecord.objects.filter(scope=caller.scope, key=idempotency_key).first()
        if record is not None:
            replay = _replay_or_conflict(run_id=record.run_id, stored_fingerprint=record.fingerprint,
                                         fingerprint=fingerprint)
            if replay:
                hotstate.idempotency_remember(scope=caller.scope, key=idempotency_key, fingerprint=fingerprint,
                                              run_id=record.run_id,
                                              ttl=int((record.expires_at - timezone.now()).total_seconds()))
                return replay
    raise _in_progress()


class _KeyTaken(Exception):
    """The idempotency key belongs to a live claim of someone else's committed request."""


def _insert_parts(instance, *, skip: tuple[str, ...] = ()) -> tuple[tuple[str, ...], list[Any]]:
    """Columns and database values of an unsaved instance, exactly as Django's INSERT would
    compute them (defaults, auto_now, JSON adaptation), so raw SQL cannot drift from the models."""
    fields = [
        f for f in instance._meta.concrete_fields
        if not f.generated and f.name not in skip and not (f.primary_key and isinstance(f, models.AutoField))
    ]
    columns = tuple(connection.ops.quote_name(f.column) for f in fields)
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    return columns, values


@lru_cache(maxsize=4)
def _intake_sql(*, claim: tuple[str, ...] | None, inquiry: tuple[str, ...], run: tuple[str, ...],
                event: tuple[str, ...]) -> str:
    """One statement that claims the key (or takes over an expired claim), stores the inquiry and
    the run only if the claim succeeded, and their two first events; it returns 1 if it stored."""
    def cols(names: tuple[str, ...]) -> str:
        return ", ".join(names)

    def marks(names: tuple[str, ...]) -> str:
        return ", ".join(["%s"] * len(names))

    parts = []
    guard = ""
    if claim is not None:
        parts.append(
            f"claim AS (INSERT INTO inquiries_idempotencyrecord ({cols(claim)}) VALUES ({marks(claim)}) "
            "ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, run_id = EXCLUDED.run_id, "
            "created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at "
            "WHERE inquiries_idempotencyrecord.expires_at <= EXCLUDED.created_at RETURNING 1)"
        )
        guard = " WHERE EXISTS (SELECT 1 FROM claim)"
    parts.append(f"inq AS (INSERT INTO inquiries_inquiry ({cols(inquiry)}) SELECT {marks(inquiry)}{guard} RETURNING id)")
    parts.append(f'r AS (INSERT INTO inquiries_run ({cols(run)}, "inquiry_id") SELECT {marks(run)}, inq.id FROM inq '
                 "RETURNING id)")
    # One multi-row VALUES keeps the events' order (sibling CTEs run in no set order). It needs no
    # guard: when the claim fails the caller rolls the whole transaction back.
    parts.append(f"ev AS (INSERT INTO inquiries_runevent ({cols(event)}) VALUES ({marks(event)}), ({marks(event)}))")
    # The notification wakes an idle worker when (and only if) this transaction commits.
    return "WITH " + ", ".join(parts) + f" SELECT (SELECT count(*) FROM r), pg_notify('{taskqueue.QUEUE_CHANNEL}', '')"


@lru_cache(maxsize=1)
def _broker():
    return get_broker()


def _accept_new(*, data, raw_payload, caller: Caller, source: str, idempotency_key: str | None,
                fingerprint: str, replay_of: Run | None, actor) -> Acceptance:
    now = timezone.now()
    run_id = uuid.uuid4()
    ttl = settings.IDEMPOTENCY_TTL_SECONDS
    request_id = get_request_id() or ""
    inquiry = Inquiry(
        sender_name=data["sender_name"], sender_email=data["sender_email"], subject=data["subject"],
        body=data["body"], metadata=data.get("metadata") or {}, raw_payload=raw_payload, source=source,
        api_client_id=caller.api_client_id, client_ip=caller.ip or None, request_id=request_id, created_at=now,
    )
    run = Run(id=run_id, inquiry=inquiry, replay_of=replay_of, workflow_version=settings.WORKFLOW_VERSION,
              model_version=settings.MODEL_VERSION, queued_at=now, created_at=now)
    label = f"user:{actor.get_username()}" if actor is not None else caller.label
    events = [
        RunEvent(run_id=run_id, type=RunEventType.RECEIVED, actor=actor, actor_label=label, request_id=request_id,
                 created_at=now, message=f"Inquiry received via {InquirySource(source).label}",
                 data={"client_ip": caller.ip, "idempotency_key": idempotency_key or "",
                       "replay_of": str(replay_of.pk) if replay_of else ""}),
        RunEvent(run_id=run_id, type=RunEventType.QUEUED, actor_label="system", request_id=request_id,
                 created_at=now, message="Queued for the workflow"),
    ]
    claim = None
    if idempotency_key:
        claim = IdempotencyRecord(scope=caller.scope, key=idempotency_key, fingerprint=fingerprint, run_id=run_id,
                                  created_at=now, expires_at=now + timedelta(seconds=ttl))
    with transaction.atomic():
        if claim is not None:
            with connection.cursor() as cursor:
                # A concurrent duplicate waits for the first to commit, then replays; never forever.
                cursor.execute("SET LOCAL lock_timeout = '2s'")
        # The ORM broker writes the task in this same transaction: it exists iff the run does.
        run.q_task_id = async_task(settings.AUTOFLOW_RUN_TASK, str(run_id), task_name=f"run-{run_id}",
                                   group="runs", broker=_broker()) or ""
        events[1].data = {"task_id": run.q_task_id}
        claim_parts = _insert_parts(claim) if claim is not None else None
        inquiry_parts = _insert_parts(inquiry)
        run_parts = _insert_parts(run, skip=("inquiry",))
        event_parts = [_insert_parts(event) for event in events]
        sql = _intake_sql(claim=claim_parts[0] if claim_parts else None, inquiry=inquiry_parts[0],
                          run=run_parts[0], event=event_parts[0][0])
        params = [*(claim_parts[1] if claim_parts else []), *inquiry_parts[1], *run_parts[1],
                  *event_parts[0][1], *event_parts[1][1]]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            stored, _ = cursor.fetchone()
        if not stored:
            raise _KeyTaken  # rolls back the task row too
    hot_values = {"snapshot": selectors.run_status_payload(run, steps=[])}
    if idempotency_key:
        hot_values["idempotency"] = {"scope": caller.scope, "key": idempotency_key, "fingerprint": fingerprint,
                                     "run_id": run_id, "ttl": ttl}
    hotstate.accepted_write(**hot_values)
    return Acceptance(run_id=run_id, status=run.status, replay=False)


def run_delete(*, run_id) -> bool:
    """Delete a run with its steps, events and Redis keys; its inquiry goes too when no other run uses it."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            return False
        claims = list(run.idempotency_records.values_list("scope", "key"))
        inquiry_id = run.inquiry_id
        run.delete()
        Inquiry.objects.filter(pk=inquiry_id, runs__isnull=True).delete()
    hotstate.run_forget(run_id, claims)
    return True


# --- Run lifecycle outside the worker's lease (the worker's own path is inquiries/runs.py) -------

def _after_commit(run_id, event: dict[str, Any] | None) -> None:
    """Once the change is committed: refresh the Redis snapshot and step list, then tell the
    subscribers of run.<run_id>. Both are best effort: Postgres already has the truth."""
    def publish() -> None:
        payload = selectors.run_status_from_db(run_id=run_id)
        if payload is None:
            return
        hotstate.snapshot_write(payload)
        if event is not None:
            realtime.publish_run_event(run_id, {**event, "run": payload})

    transaction.on_commit(_best_effort(publish))


def _locked_run(run_id) -> Run | None:
    return Run.objects.select_related("inquiry").select_for_update(of=("self",)).filter(pk=run_id).first()


def _finish(run: Run, *, status: str, error_code: str = "", error: str = "", message: str = "",
            fields: dict[str, Any] | None = None, data: dict | None = None) -> None:
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
    event_type = {RunStatus.COMPLETED: RunEventType.COMPLETED, RunStatus.ESCALATED: RunEventType.ESCALATED,
                  RunStatus.ERROR: RunEventType.FAILED}[status]
    run_event_record(run=run, type=event_type, actor_label="system",
                     message=message or run.get_status_display(),
                     data={"error_code": error_code, "escalation_reason": run.escalation_reason, **(data or {})})
    _after_commit(run.pk, {"type": TERMINAL_EVENT[status]})
    run_id = run.pk
    transaction.on_commit(lambda: realtime.publish_run_listed(run_id, new=False))


def finish_out_of_attempts(run: Run, *, max_attempts: int) -> None:
    """The one way a run that used up its attempts ends (inside the caller's transaction, the run
    locked): `error`, never `running` forever."""
    _finish(run, status=RunStatus.ERROR, error_code="attempts_exhausted",
            error=f"The run did not finish in {max_attempts} attempts.",
            message=f"Gave up after {max_attempts} attempts")


def run_finish(*, run_id, status: str, fields: dict[str, Any] | None = None, message: str = "",
               error_code: str = "", error: str = "") -> bool:
    """End a run (completed, escalated or error) without holding its lease. Idempotent: an ended
    run stays as it ended."""
    if status not in TERMINAL_EVENT:
        raise ValueError(f"{status!r} is not a terminal status")
    unknown = set(fields or {}) - RUN_STEP_FIELDS
    if unknown:
        raise ValueError(f"cannot set {sorted(unknown)} when finishing")
    with transaction.atomic():
        run = _locked_run(run_id)
        if run is None or run.is_terminal:
            return False
        _finish(run, status=status, fields=fields, message=message, error_code=error_code, error=error)
    return True


def run_release(*, run_id, owner: str, error: str, task_id: int | None = None, retry_in: float = 0) -> None:
    """An attempt failed with an unexpected error: give the lease back, and the run's task back to
    the queue after `retry_in` seconds, so that the run is retried (its attempts are bounded)."""
    with transaction.atomic():
        run = _locked_run(run_id)
        if task_id is not None:
            taskqueue.hold(task_ids=[task_id], hold_seconds=retry_in)
        if run is None or run.is_terminal or run.lease_owner != owner:
            return
        run.lease_owner, run.lease_expires_at = "", timezone.now()
        run.save(update_fields=["lease_owner", "lease_expires_at", "updated_at"])
        run_event_record(run=run, type=RunEventType.RETRIED, actor_label=f"worker:{owner}",
                         message=f"Attempt {run.attempts} failed; it will be retried"[:500],
                         data={"attempt": run.attempts, "error": error[:1000]})
        _after_commit(run.pk, None)


def _enqueue(run: Run) -> None:
    run.q_task_id = async_task(settings.AUTOFLOW_RUN_TASK, str(run.pk), task_name=f"run-{run.pk}-{run.attempts}",
                               group="runs", broker=_broker()) or ""
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
            if run.attempts >= max_attempts:
                finish_out_of_attempts(run, max_attempts=max_attempts)
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
            _after_commit(run.pk, None)
            counts["requeued"] += 1
    return counts


# --- CRM and e-mail: side effects of a run, each at most once per run -----------------------------

def contact_record_inquiry(*, run_id, intent: str = "") -> Contact | None:
    """Count the run's inquiry on its sender's contact (created on first contact). A replay or a
    resumed run of the same inquiry does not count it twice: the inquiry keeps its contact."""
    with transaction.atomic():
        run = Run.objects.select_related("inquiry").filter(pk=run_id).first()
        if run is None:
            return None
        inquiry = Inquiry.objects.select_for_update().get(pk=run.inquiry_id)
        if inquiry.contact_id is None and run.replay_of_id is not None:
            # A replay re-runs an inquiry already counted: it joins the original's contact.
            original = Inquiry.objects.filter(runs__pk=run.replay_of_id).values_list("contact_id", flat=True).first()
            if original is not None:
                inquiry.contact_id = original
                inquiry.save(update_fields=["contact"])
        if inquiry.contact_id is not None:
            contact = Contact.objects.select_for_update().get(pk=inquiry.contact_id)
            if intent and contact.last_intent != intent:
                contact.last_intent = intent
                contact.save(update_fields=["last_intent", "updated_at"])
            return contact
        contact, _ = Contact.objects.select_for_update().get_or_create(
            email=inquiry.sender_email.strip().lower(), defaults={"name": inquiry.sender_name[:200]})
        contact.inquiry_count += 1
        contact.last_intent = intent
        contact.last_inquiry_at = inquiry.created_at
        if not contact.name:
            contact.name = inquiry.sender_name[:200]
        contact.save()
        inquiry.contact = contact
        inquiry.save(update_fields=["contact"])
    return contact


def outbound_email_send_once(*, run_id, body: str, approved_by=None) -> OutboundEmail | None:
    """Send the run's reply to its sender through Django's e-mail backend, at most once whatever
    the retries: the unique (run, kind) row is committed before sending, so a second call (a
    resumed run, a double click) finds it and sends nothing. A crash between the commit and the
    send leaves the row `pending`: never sent twice, and visible to operators."""
    with transaction.atomic():
        run = Run.objects.select_related("inquiry").filter(pk=run_id).first()
        if run is None:
            return None
        email, created = OutboundEmail.objects.get_or_create(
            run=run, kind=EmailKind.REPLY,
            defaults={"to": run.inquiry.sender_email, "subject": reply_subject(run.inquiry.subject),
                      "body": body, "approved_by": approved_by},
        )
    if not created:
        return email
    try:
        send_mail(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to], fail_silently=False)
    except Exception as exc:  # SMTP errors come in many types; the run records the failure
        email.status, email.error = EmailStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        email.save(update_fields=["status", "error"])
        return email
    email.status, email.sent_at = EmailStatus.SENT, timezone.now()
    email.save(update_fields=["status", "sent_at"])
    with transaction.atomic():
        run_event_record(run=run, type=RunEventType.REPLY_SENT, actor=approved_by,
                         actor_label="" if approved_by else "system", message=f"Reply sent to {email.to}",
                         data={"email_id": email.pk})
    return email


def reply_subject(subject: str) -> str:
    # One line: a CR or LF from the inquiry would be refused by Django (BadHeaderError) and must
    # never become a header of its own.
    subject = " ".join(subject.split()) or "Your inquiry"
    return (subject if subject.lower().startswith("re:") else f"Re: {subject}")[:500]


# --- Operator actions on escalated runs (the console calls these; each is a run event) -----------

class ActionRefused(Exception):
    """The action does not apply to the run in its current state (the message says why)."""


def _escalated_run_for_update(run_id) -> Run:
    run = _locked_run(run_id)
    if run is None:
        raise ActionRefused("This run no longer exists.")
    if run.status != RunStatus.ESCALATED:
        raise ActionRefused("Only escalated runs are handled by operators.")
    return run


def run_assign(*, run_id, user) -> Run:
    """The operator takes the escalation over."""
    with transaction.atomic():
        run = _escalated_run_for_update(run_id)
        if run.resolved_at is not None:
            raise ActionRefused("This escalation is already resolved.")
        previous = run.assigned_to
        run.assigned_to = user
        run.save(update_fields=["assigned_to", "updated_at"])
        run_event_record(run=run, type=RunEventType.ASSIGNED, actor=user,
                         message=f"Assigned to {user.get_username()}"
                         + (f" (was {previous.get_username()})" if previous and previous != user else ""),
                         data={"previous": previous.get_username() if previous else ""})
        _after_commit(run.pk, None)
    return run


def run_draft_update(*, run_id, user, draft: str) -> Run:
    draft = draft.replace("\r\n", "\n").strip()  # browsers send a textarea's lines with CRLF
    if not draft:
        raise ActionRefused("The reply cannot be empty.")
    with transaction.atomic():
        run = _escalated_run_for_update(run_id)
        if OutboundEmail.objects.filter(run=run, kind=EmailKind.REPLY).exists():
            raise ActionRefused("The reply was already sent; it can no longer be edited.")
        before = run.draft_response
        run.draft_response = draft[:6000]
        run.save(update_fields=["draft_response", "updated_at"])
        run_event_record(run=run, type=RunEventType.DRAFT_EDITED, actor=user, message="Draft edited",
                         data={"chars_before": len(before), "chars_after": len(run.draft_response)})
        _after_commit(run.pk, None)
    return run


def run_reply_approve(*, run_id, user) -> OutboundEmail:
    """Send the (possibly edited) draft to the sender, once: a second approval sends nothing."""
    with transaction.atomic():
        run = _escalated_run_for_update(run_id)
        if not run.draft_response.strip():
            raise ActionRefused("There is no draft to send.")
        if OutboundEmail.objects.filter(run=run, kind=EmailKind.REPLY).exists():
            raise ActionRefused("The reply was already sent.")
        run.final_response = run.draft_response
        run.save(update_fields=["final_response", "updated_at"])
        _after_commit(run.pk, None)
    email = outbound_email_send_once(run_id=run.pk, body=run.final_response, approved_by=user)
    if email is None:
        raise ActionRefused("This run no longer exists.")
    return email


def run_resolve(*, run_id, user, note: str = "") -> Run:
    with transaction.atomic():
        run = _escalated_run_for_update(run_id)
        if run.resolved_at is not None:
            raise ActionRefused("This escalation is already resolved.")
        run.resolved_at, run.resolved_by, run.resolution_note = timezone.now(), user, note.strip()[:5000]
        run.assigned_to = run.assigned_to or user
        run.save(update_fields=["resolved_at", "resolved_by", "resolution_note", "assigned_to", "updated_at"])
        run_event_record(run=run, type=RunEventType.RESOLVED, actor=user, message="Resolved"
                         + (f": {run.resolution_note}" if run.resolution_note else ""),
                         data={"note": run.resolution_note})
        _after_commit(run.pk, None)
    return run


def run_replay(*, run_id, user) -> Acceptance:
    """A new run of the same inquiry on the current workflow version, linked to the original."""
    original = Run.objects.select_related("inquiry").filter(pk=run_id).first()
    if original is None:
        raise ActionRefused("This run no longer exists.")
    inquiry = original.inquiry
    data = {"sender_name": inquiry.sender_name, "sender_email": inquiry.sender_email, "subject": inquiry.subject,
            "body": inquiry.body, "metadata": inquiry.metadata}
    caller = Caller(scope=f"user:{user.pk}", label=f"user:{user.get_username()}", ip="")
    with transaction.atomic():
        acceptance = inquiry_accept(data=data, raw_payload=inquiry.raw_payload, caller=caller, idempotency_key=None,
                                    fingerprint="", source=InquirySource.REPLAY, replay_of=original, actor=user)
        run_event_record(run=original, type=RunEventType.REPLAYED, actor=user,
                         message=f"Replayed as run {acceptance.run_id}", data={"replay_run_id": str(acceptance.run_id)})
    return acceptance
