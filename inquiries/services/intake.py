"""Webhook intake: an inquiry accepted durably, once per idempotency key.

The idempotency claim, the inquiry, its run, their first events and the queued task commit in
one PostgreSQL transaction, or nothing does; Redis is told afterwards (docs/reliability.md).
The same key with the same body replays the first answer; with another body it is refused
(`IdempotencyKeyReused`); while the first request is still being stored, `IdempotencyKeyInProgress`."""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from core import tracing
from core.request_id import get_request_id
from inquiries import hotstate, payloads, selectors
from inquiries.errors import IdempotencyKeyInProgress, IdempotencyKeyReused
from inquiries.models import (
    ApiScope,
    IdempotencyRecord,
    Inquiry,
    InquirySource,
    Run,
    RunEvent,
    RunEventType,
)

from ._common import queue_run_task
from ._intake_sql import intake_sql as _intake_sql
from ._pipeline import insert_parts


@dataclass(frozen=True)
class Caller:
    """Who is calling: `identity` names the caller (`key:bootstrap`, `client:<id>`, `user:<id>`,
    `anonymous`…); its idempotency keys are its own and its per-key rate limit is counted on it.
    `label` is what audit events show; `scopes` what it may do (ApiScope values)."""

    identity: str
    label: str
    ip: str
    api_client_id: int | None = None
    rate_limit: str = ""
    scopes: frozenset[str] = frozenset()

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def reads_all(self) -> bool:
        return ApiScope.READ_ALL in self.scopes


@dataclass(frozen=True)
class Acceptance:
    run_id: uuid.UUID
    status: str
    replay: bool


def body_fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# The namespace of signed requests' `webhook-id`s: one for every caller, so that a captured signed
# request cannot be replayed under another key or with an Idempotency-Key of its own.
SIGNED_KEYS = "signed"


def _replay_or_conflict(*, run_id, stored_fingerprint: str, fingerprint: str, caller: Caller,
                        key_owner: str) -> Acceptance | None:
    if stored_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    # (`api_client_id=None` is Django's IS NULL: the bootstrap key's runs.)
    if key_owner != caller.identity and not Run.objects.filter(
            pk=run_id, inquiry__api_client_id=caller.api_client_id).exists():
        # Another caller's signed request: neither its run nor its stream token is this caller's.
        raise IdempotencyKeyReused("This webhook-id was already used by another caller.")
    status = selectors.run_status(run_id=run_id)
    if status is None:  # the run was deleted since: the key is free again
        return None
    return Acceptance(run_id=uuid.UUID(str(run_id)), status=status["status"], replay=True)


def inquiry_accept(*, data: dict[str, Any], raw_payload: dict[str, Any], caller: Caller,
                   idempotency_key: str | None, fingerprint: str, source: str = InquirySource.API,
                   replay_of: Run | None = None, actor=None, key_owner: str | None = None) -> Acceptance:
    """Accept an inquiry durably: the idempotency claim, inquiry, run, its first events and the
    queued task commit in one PostgreSQL transaction, or nothing does. Redis is told afterwards.
    The idempotency key belongs to `key_owner`: the caller (the default) or SIGNED_KEYS."""
    key_owner = key_owner or caller.identity
    if idempotency_key:
        cached = hotstate.idempotency_recall(caller=key_owner, key=idempotency_key)
        if cached:
            replay = _replay_or_conflict(run_id=cached["run_id"], stored_fingerprint=cached["fingerprint"],
                                         fingerprint=fingerprint, caller=caller, key_owner=key_owner)
            if replay:
                return replay
    for _ in range(3):
        try:
            return _accept_new(data=data, raw_payload=raw_payload, caller=caller, source=source,
                               idempotency_key=idempotency_key, fingerprint=fingerprint,
                               replay_of=replay_of, actor=actor, key_owner=key_owner)
        except _KeyTaken:
            pass
        except OperationalError as exc:
            if isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                raise IdempotencyKeyInProgress(retry_after=1) from exc
            raise
        # Someone else claimed the key first (their transaction committed while ours waited).
        record = IdempotencyRecord.objects.filter(caller=key_owner, key=idempotency_key).first()
        if record is not None:
            replay = _replay_or_conflict(run_id=record.run_id, stored_fingerprint=record.fingerprint,
                                         fingerprint=fingerprint, caller=caller, key_owner=key_owner)
            if replay:
                hotstate.idempotency_remember(caller=key_owner, key=idempotency_key, fingerprint=fingerprint,
                                              run_id=record.run_id,
                                              ttl=int((record.expires_at - timezone.now()).total_seconds()))
                return replay
    raise IdempotencyKeyInProgress(retry_after=1)


class _KeyTaken(Exception):
    """The idempotency key belongs to a live claim of someone else's committed request."""


def _accept_new(*, data, raw_payload, caller: Caller, source: str, idempotency_key: str | None,
                fingerprint: str, replay_of: Run | None, actor, key_owner: str) -> Acceptance:
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
              model_version=settings.MODEL_VERSION, queued_at=now, created_at=now,
              # The webhook request's span: the worker's run span continues its trace.
              trace_context=tracing.current_context())
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
        claim = IdempotencyRecord(caller=key_owner, key=idempotency_key, fingerprint=fingerprint, run_id=run_id,
                                  created_at=now, expires_at=now + timedelta(seconds=ttl))
    with transaction.atomic():
        if claim is not None:
            with connection.cursor() as cursor:
                # A concurrent duplicate waits for the first to commit, then replays; never forever.
                cursor.execute("SET LOCAL lock_timeout = '2s'")
        # The ORM broker writes the task in this same transaction: it exists iff the run does.
        run.q_task_id = queue_run_task(run_id, name=f"run-{run_id}")
        events[1].data = {"task_id": run.q_task_id}
        claim_parts = insert_parts(claim) if claim is not None else None
        inquiry_parts = insert_parts(inquiry)
        run_parts = insert_parts(run, skip=("inquiry",))
        event_parts = [insert_parts(event) for event in events]
        sql = _intake_sql(claim=claim_parts[0] if claim_parts else None, inquiry=inquiry_parts[0],
                          run=run_parts[0], event=event_parts[0][0])
        params = [*(claim_parts[1] if claim_parts else []), *inquiry_parts[1], *run_parts[1],
                  *event_parts[0][1], *event_parts[1][1]]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            stored, _ = cursor.fetchone()
        if not stored:
            raise _KeyTaken  # rolls back the task row too
    hot_values = {"snapshot": payloads.run_status_payload(run, steps=[])}
    if idempotency_key:
        hot_values["idempotency"] = {"caller": key_owner, "key": idempotency_key, "fingerprint": fingerprint,
                                     "run_id": run_id, "ttl": ttl}
    hotstate.accepted_write(**hot_values)
    return Acceptance(run_id=run_id, status=run.status, replay=False)
