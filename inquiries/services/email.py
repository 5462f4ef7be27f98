"""Outbound e-mail: a run's reply to its sender, sent at most once whatever the retries.

The unique (run, kind) row is committed before sending, so a second call (a resumed run, a
double click) finds it and sends nothing. A crash between the commit and the send leaves the row
`pending`: never sent twice, and visible to operators."""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from core.text_safety import safe_subject
from inquiries.events import run_event_record
from inquiries.models import EmailKind, EmailStatus, OutboundEmail, Run, RunEventType

from ._pipeline import Statement, event, insert
from .leases import Lease, send_held


def reply_subject(subject: str) -> str:
    """One line (a CR or LF from the inquiry would be refused by Django, BadHeaderError, and must
    never become a header of its own), without the caller's links, addresses or control
    characters, at most 80 characters of it (core/text_safety.py)."""
    subject = safe_subject(subject) or "Your inquiry"
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def _deliver(email: OutboundEmail) -> bool:
    """Hand the e-mail to Django's backend; on failure it is marked `failed` (not saved)."""
    try:
        send_mail(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to], fail_silently=False)
    except Exception as exc:  # SMTP errors come in many types; the run records the failure
        email.status, email.error = EmailStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        return False
    email.status, email.sent_at = EmailStatus.SENT, timezone.now()
    return True


def outbound_email_send_once(*, run_id, body: str, approved_by=None) -> OutboundEmail | None:
    """Send the run's reply to its sender (an operator's approval; the ORM path), at most once."""
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
    if not _deliver(email):
        email.save(update_fields=["status", "error"])
        return email
    email.save(update_fields=["status", "sent_at"])
    with transaction.atomic():
        run_event_record(run=run, type=RunEventType.REPLY_SENT, actor=approved_by,
                         actor_label="" if approved_by else "system", message=f"Reply sent to {email.to}",
                         data={"email_id": email.pk})
    return email


def reply_send_once(lease: Lease, *, body: str) -> tuple[OutboundEmail, list[Statement]]:
    """The worker sends the run's reply, at most once. Returns the e-mail and the statements that
    record how the send went (its status, the `reply_sent` event), for the step that sent it."""
    run = lease.run
    email = OutboundEmail(run_id=run.pk, kind=EmailKind.REPLY, to=run.inquiry.sender_email,
                          subject=reply_subject(run.inquiry.subject), body=body)
    # Committed synchronously whatever the worker's connection says: this row is the guard.
    _, _, inserted = send_held(lease, [insert(email, returning="id", on_conflict="(run_id, kind) DO NOTHING")],
                               first=[("SELECT set_config('synchronous_commit', 'on', true)", None)])
    if not inserted:
        return OutboundEmail.objects.get(run_id=run.pk, kind=EmailKind.REPLY), []
    email.id = inserted[0][0]
    if not _deliver(email):
        return email, [("UPDATE inquiries_outboundemail SET status = %s, error = %s WHERE id = %s",
                        [email.status, email.error, email.pk])]
    return email, [
        ("UPDATE inquiries_outboundemail SET status = %s, sent_at = %s WHERE id = %s",
         [email.status, email.sent_at, email.pk]),
        insert(event(run.pk, RunEventType.REPLY_SENT, f"Reply sent to {email.to}", {"email_id": email.pk})),
    ]
