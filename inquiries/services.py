"""Writes. Interfaces call one of these; each keeps its own transaction and invariants."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
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
        except IntegrityError:
            if not idempotency_key:
                raise
        except OperationalError as exc:
            if isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                raise ApiError(409, ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS,
                               "A request with this Idempotency-Key is still being processed; retry shortly.",
                               headers={"Retry-After": "1"}) from exc
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
    raise ApiError(409, ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS,
                   "A request with this Idempotency-Key is still being processed; retry shortly.",
                   headers={"Retry-After": "1"})


def _accept_new(*, data, raw_payload, caller: Caller, source: str, idempotency_key: str | None,
                fingerprint: str, replay_of: Run | None, actor) -> Acceptance:
    now = timezone.now()
    run_id = uuid.uuid4()
    ttl = settings.IDEMPOTENCY_TTL_SECONDS
    request_id = get_request_id() or ""
    with transaction.atomic():
        if idempotency_key:
            with connection.cursor() as cursor:
                # A concurrent duplicate waits for the first to commit, then replays; never forever.
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            IdempotencyRecord.objects.filter(scope=caller.scope, key=idempotency_key, expires_at__lte=now).delete()
            # The foreign key to the run is checked at commit (Django's FKs are deferred).
            IdempotencyRecord.objects.create(scope=caller.scope, key=idempotency_key, fingerprint=fingerprint,
                                             run_id=run_id, created_at=now,
                                             expires_at=now + timedelta(seconds=ttl))
        inquiry = Inquiry.objects.create(
            sender_name=data["sender_name"], sender_email=data["sender_email"], subject=data["subject"],
            body=data["body"], metadata=data.get("metadata") or {}, raw_payload=raw_payload, source=source,
            api_client_id=caller.api_client_id, client_ip=caller.ip or None, request_id=request_id, created_at=now,
        )
        # The ORM broker writes the task in this same transaction: it exists iff the run does.
        task_id = async_task(settings.AUTOFLOW_RUN_TASK, str(run_id), task_name=f"run-{run_id}", group="runs")
        run = Run.objects.create(
            id=run_id, inquiry=inquiry, replay_of=replay_of, workflow_version=settings.WORKFLOW_VERSION,
            model_version=settings.MODEL_VERSION, q_task_id=task_id or "", queued_at=now, created_at=now,
        )
        label = f"user:{actor.get_username()}" if actor is not None else caller.label
        RunEvent.objects.bulk_create([
            RunEvent(run=run, type=RunEventType.RECEIVED, actor=actor, actor_label=label, request_id=request_id,
                     created_at=now, message=f"Inquiry received via {InquirySource(source).label}",
                     data={"client_ip": caller.ip, "idempotency_key": idempotency_key or "",
                           "replay_of": str(replay_of.pk) if replay_of else ""}),
            RunEvent(run=run, type=RunEventType.QUEUED, actor_label="system", request_id=request_id,
                     created_at=now, message="Queued for the workflow", data={"task_id": task_id or ""}),
        ])
    hotstate.snapshot_write(selectors.run_status_payload(run, steps=[]))
    if idempotency_key:
        hotstate.idempotency_remember(scope=caller.scope, key=idempotency_key, fingerprint=fingerprint,
                                      run_id=run_id, ttl=ttl)
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
