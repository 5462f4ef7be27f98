"""Operator actions on escalated runs: assign, edit the draft, approve the reply, resolve, replay.

The console calls these; each is a run event. An action that does not apply to the run as it is
raises `ActionRefused` with the reason, which the console shows."""

from typing import TypeVar

from django.db import transaction
from django.utils import timezone

from inquiries.errors import ActionRefused
from inquiries.events import run_event_record
from inquiries.models import (
    EmailKind,
    EmailStatus,
    InquirySource,
    OutboundEmail,
    Run,
    RunEventType,
    RunStatus,
    WebhookEvent,
)
from inquiries.payloads import run_status_payload

from ._common import after_commit, locked_run
from .email import outbound_email_send_once
from .intake import Acceptance, Caller, inquiry_accept
from .webhooks import enqueue

RUN_GONE = "This run no longer exists."
_T = TypeVar("_T")


def _found(value: _T | None) -> _T:
    """The run (or its e-mail), unless the run was deleted meanwhile."""
    if value is None:
        raise ActionRefused(RUN_GONE)
    return value


def _escalated_run_for_update(run_id) -> Run:
    run = _found(locked_run(run_id))
    if run.status != RunStatus.ESCALATED:
        raise ActionRefused("Only escalated runs are handled by operators.")
    return run


def _refuse_if_resolved(run: Run) -> None:
    if run.resolved_at is not None:
        raise ActionRefused("This escalation is already resolved.")


def _refuse_if_reply_sent(run: Run, *, consequence: str = "") -> None:
    status = OutboundEmail.objects.filter(run=run, kind=EmailKind.REPLY).values_list("status", flat=True).first()
    if status in (EmailStatus.FAILED, EmailStatus.RETRYING):
        raise ActionRefused("Sending the reply failed; use \u201cSend again\u201d on the run's page.")
    if status is not None:
        raise ActionRefused("The reply was already sent" + (f"; {consequence}." if consequence else "."))


def run_assign(*, run_id, user) -> Run:
    """The operator takes the escalation over."""
    with transaction.atomic():
        run = _escalated_run_for_update(run_id)
        _refuse_if_resolved(run)
        previous = run.assigned_to
        run.assigned_to = user
        run.save(update_fields=["assigned_to", "updated_at"])
        run_event_record(run=run, type=RunEventType.ASSIGNED, actor=user,
                         message=f"Assigned to {user.get_username()}"
                         + (f" (was {previous.get_username()})" if previous and previous != user else ""),
                         data={"previous": previous.get_username() if previous else ""})
        after_commit(run.pk, None)
    return run


def run_draft_update(*, run_id, user, draft: str) -> Run:
    draft = draft.replace("\r\n", "\n").strip()  # browsers send a textarea's lines with CRLF
    if not draft:
        raise ActionRefused("The reply cannot be empty.")
    with transaction.atomic():
        run = _escalated_run_for_update(run_id)
        _refuse_if_reply_sent(run, consequence="it can no longer be edited")
        before = run.draft_response
        run.draft_response = draft[:6000]
        run.save(update_fields=["draft_response", "updated_at"])
        run_event_record(run=run, type=RunEventType.DRAFT_EDITED, actor=user, message="Draft edited",
                         data={"chars_before": len(before), "chars_after": len(run.draft_response)})
        after_commit(run.pk, None)
    return run


def run_reply_approve(*, run_id, user) -> OutboundEmail:
    """Send the (possibly edited) draft to the sender, once: a second approval sends nothing."""
    with transaction.atomic():
        run = _escalated_run_for_update(run_id)
        if not run.draft_response.strip():
            raise ActionRefused("There is no draft to send.")
        _refuse_if_reply_sent(run)
        run.final_response = run.draft_response
        run.save(update_fields=["final_response", "updated_at"])
        after_commit(run.pk, None)
    return _found(outbound_email_send_once(run_id=run.pk, body=run.final_response, approved_by=user))


def run_resolve(*, run_id, user, note: str = "") -> Run:
    with transaction.atomic():
        run = _escalated_run_for_update(run_id)
        _refuse_if_resolved(run)
        run.resolved_at, run.resolved_by, run.resolution_note = timezone.now(), user, note.strip()[:5000]
        run.assigned_to = run.assigned_to or user
        run.save(update_fields=["resolved_at", "resolved_by", "resolution_note", "assigned_to", "updated_at"])
        run_event_record(run=run, type=RunEventType.RESOLVED, actor=user, message="Resolved"
                         + (f": {run.resolution_note}" if run.resolution_note else ""),
                         data={"note": run.resolution_note})
        enqueue(run.pk, WebhookEvent.ESCALATION_RESOLVED, run_status_payload(run))
        after_commit(run.pk, None)
        # The runs that joined this escalation (a sender's flood) are resolved with it.
        for joined in Run.objects.select_for_update().filter(joined_escalation=run, resolved_at__isnull=True):
            joined.resolved_at, joined.resolved_by = run.resolved_at, user
            joined.resolution_note = f"Resolved with {run.pk}"
            joined.save(update_fields=["resolved_at", "resolved_by", "resolution_note", "updated_at"])
            run_event_record(run=joined, type=RunEventType.RESOLVED, actor=user,
                             message=f"Resolved with the escalation it joined ({run.pk})",
                             data={"note": joined.resolution_note, "joined_escalation": str(run.pk)})
            enqueue(joined.pk, WebhookEvent.ESCALATION_RESOLVED, run_status_payload(joined))
            after_commit(joined.pk, None)
    return run


def run_replay(*, run_id, user) -> Acceptance:
    """A new run of the same inquiry on the current workflow version, linked to the original."""
    original = _found(Run.objects.select_related("inquiry").filter(pk=run_id).first())
    inquiry = original.inquiry
    data = {"sender_name": inquiry.sender_name, "sender_email": inquiry.sender_email, "subject": inquiry.subject,
            "body": inquiry.body, "metadata": inquiry.metadata}
    caller = Caller(identity=f"user:{user.pk}", label=f"user:{user.get_username()}", ip="")
    with transaction.atomic():
        acceptance = inquiry_accept(data=data, raw_payload=inquiry.raw_payload, caller=caller, idempotency_key=None,
                                    fingerprint="", source=InquirySource.REPLAY, replay_of=original, actor=user)
        run_event_record(run=original, type=RunEventType.REPLAYED, actor=user,
                         message=f"Replayed as run {acceptance.run_id}", data={"replay_run_id": str(acceptance.run_id)})
    return acceptance
