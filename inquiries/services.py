"""Writes. Interfaces call one of these; each keeps its own transaction and invariants."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import psycopg
from django.conf import settings
from django.db import OperationalError, connection, models, transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.tasks import async_task

from autoflow.request_id import get_request_id

from . import hotstate, selectors
from .errors import ApiError, ErrorCode
from .models import (
    ApiClient,
    IdempotencyRecord,
    Inquiry,
    InquirySource,
    Run,
    RunEvent,
    RunEventType,
)


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
    return "WITH " + ", ".join(parts) + " SELECT count(*) FROM r"


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
            (stored,) = cursor.fetchone()
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
