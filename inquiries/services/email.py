"""Outbound e-mail: a run's reply to its sender, sent at most once whatever the retries.

The unique (run, kind) row is committed before sending, so a second call (a resumed run, a
double click) finds it and sends nothing. A crash between the commit and the send leaves the row
`pending`: never sent twice, and visible to operators.

Automatic replies (the workflow's own, `automatic=True`) are held, never sent, when:
- the recipient is our own sending address or domain (DEFAULT_FROM_EMAIL's);
- AUTO_REPLY_PER_RECIPIENT automatic replies to that address (lower-cased) are already sent,
  pending or retrying in the last 24 h, or AUTO_REPLY_PER_CLIENT_HOUR for the inquiry's API client
  in the last hour.
The count is PostgreSQL's, taken in the transaction that inserts the guard row, under transaction
advisory locks on the recipient and the client: two workers cannot both take the last slot, and
Redis plays no part. A held reply inserts no row; the run escalates (orchestration/policy.py,
`reply_throttled`) and an operator's approval sends the draft (`approved_by`, not counted).

Delivery (every reply, automatic or approved: plain text, `Auto-Submitted: auto-replied`,
`X-Auto-Response-Suppress: All`, EMAIL_TIMEOUT on the connection). A transient failure (refused
or timed-out connection, disconnection, a 4xx reply) leaves the row `retrying` and a one-off
django-q2 schedule (`next_run`) calls `email_retry` after EMAIL_RETRY_BASE_SECONDS × 2^(attempt-1),
up to EMAIL_MAX_ATTEMPTS attempts; then, or on a permanent failure (5xx, anything else), the row
is `failed` with its error. Each attempt first moves the row back to `pending` in a commit of its
own, so a retry only ever sends a row that is not `sent`. Operators "send again" a `failed` (or
`retrying`) row from the console: the same row, one more attempt, a run event."""

import smtplib
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, models, transaction
from django.utils import timezone
from django_q.models import Schedule

from core.text_safety import safe_subject
from inquiries.errors import ActionRefused
from inquiries.events import run_event_record
from inquiries.models import EmailKind, EmailStatus, OutboundEmail, Run, RunEventType, WebhookEvent
from inquiries.payloads import run_status_payload

from ._pipeline import Statement, event, insert, insert_parts
from .leases import Lease, send_held
from .webhooks import enqueue, enqueue_statement

AUTO_HEADERS = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
_DELIVERY_FIELDS = ["status", "error", "sent_at", "attempts", "next_attempt_at"]


def reply_subject(subject: str) -> str:
    """One line (a CR or LF from the inquiry would be refused by Django, BadHeaderError, and must
    never become a header of its own), without the caller's links, addresses or control
    characters, at most 80 characters of it (core/text_safety.py)."""
    subject = safe_subject(subject) or "Your inquiry"
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def own_address(address: str) -> bool:
    """Whether `address` is DEFAULT_FROM_EMAIL or in its domain (or a subdomain of it)."""
    ours = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].strip().lower()
    domain = ours.rpartition("@")[2]
    to = address.strip().lower()
    to_domain = to.rpartition("@")[2]
    return to == ours or bool(domain) and (to_domain == domain or to_domain.endswith("." + domain))


def transient(exc: BaseException) -> bool:
    """An SMTP failure worth another attempt later: 4xx, a dropped or refused or timed-out connection."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPException):
        return False
    return isinstance(exc, OSError)  # ConnectionRefusedError, TimeoutError, socket errors


def _deliver(email: OutboundEmail) -> bool:
    """Hand the e-mail to Django's backend (one attempt, already counted in `attempts`); the
    outcome is set on the row (not saved): `sent`, `retrying` or `failed`."""
    message = EmailMessage(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to], headers=AUTO_HEADERS)
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # SMTP errors come in many types; the row records the failure
        email.error = f"{type(exc).__name__}: {exc}"[:2000]
        if transient(exc) and email.attempts < settings.EMAIL_MAX_ATTEMPTS:
            delay = settings.EMAIL_RETRY_BASE_SECONDS * 2 ** max(email.attempts - 1, 0)
            email.status, email.next_attempt_at = EmailStatus.RETRYING, timezone.now() + timedelta(seconds=delay)
        else:
            email.status, email.next_attempt_at = EmailStatus.FAILED, None
        return False
    email.status, email.sent_at, email.error, email.next_attempt_at = EmailStatus.SENT, timezone.now(), "", None
    return True


def _schedule_retry(email: OutboundEmail) -> None:
    """A one-off task on django-q2's scheduler (the worker runs it every 30 s) at `next_attempt_at`."""
    Schedule.objects.create(name=f"email-retry-{email.pk}-{email.attempts}", func="inquiries.services.email.email_retry",
                            args=f"({email.pk},)", schedule_type=Schedule.ONCE, repeats=-1,
                            next_run=email.next_attempt_at)


def _after_attempt(email: OutboundEmail, *, actor=None) -> OutboundEmail:
    """Save an attempt's outcome (ORM path); `reply_sent` event on success, a retry if transient."""
    with transaction.atomic():
        email.save(update_fields=_DELIVERY_FIELDS)
        if email.status == EmailStatus.SENT:
            run_event_record(run=email.run, type=RunEventType.REPLY_SENT, actor=actor,
                             actor_label="" if actor else "system", message=f"Reply sent to {email.to}",
                             data={"email_id": email.pk, "attempt": email.attempts})
            run = Run.objects.select_related("inquiry").get(pk=email.run_id)
            enqueue(run.pk, WebhookEvent.REPLY_SENT, run_status_payload(run))
        elif email.status == EmailStatus.RETRYING:
            _schedule_retry(email)
    return email


def outbound_email_send_once(*, run_id, body: str, approved_by=None) -> OutboundEmail | None:
    """Send the run's reply to its sender (an operator's approval; the ORM path), at most once."""
    with transaction.atomic():
        run = Run.objects.select_related("inquiry").filter(pk=run_id).first()
        if run is None:
            return None
        email, created = OutboundEmail.objects.get_or_create(
            run=run, kind=EmailKind.REPLY,
            defaults={"to": run.inquiry.sender_email, "subject": reply_subject(run.inquiry.subject),
                      "body": body, "approved_by": approved_by, "attempts": 1},
        )
    if not created:
        return email
    _deliver(email)
    return _after_attempt(email, actor=approved_by)


def _claim(email_id, *, statuses: tuple[str, ...]) -> OutboundEmail | None:
    """The row, moved back to `pending` with one more attempt, if its status is one of `statuses`."""
    email = OutboundEmail.objects.select_for_update(of=("self",)).select_related("run").filter(pk=email_id).first()
    if email is None or email.status not in statuses:
        return None
    email.status, email.attempts, email.next_attempt_at = EmailStatus.PENDING, email.attempts + 1, None
    email.save(update_fields=["status", "attempts", "next_attempt_at"])
    return email


def email_retry(email_id) -> str:
    """django-q2 task: the next attempt of a `retrying` e-mail; nothing for any other status."""
    with transaction.atomic():
        email = _claim(email_id, statuses=(EmailStatus.RETRYING,))
    if email is None:
        return "skipped"
    _deliver(email)
    return _after_attempt(email).status


def email_send_again(*, run_id, user) -> OutboundEmail:
    """An operator sends the run's failed reply again: the same (run, kind) row, one more attempt."""
    with transaction.atomic():
        row = OutboundEmail.objects.filter(run_id=run_id, kind=EmailKind.REPLY).values_list("pk", flat=True).first()
        email = _claim(row, statuses=(EmailStatus.FAILED, EmailStatus.RETRYING)) if row else None
        if email is None:
            raise ActionRefused("Only a reply whose sending failed can be sent again.")
        run_event_record(run=email.run, type=RunEventType.NOTE, actor=user,
                         message=f"Send again: attempt {email.attempts} of the reply to {email.to}",
                         data={"email_id": email.pk, "attempt": email.attempts, "action": "email_send_again"})
    _deliver(email)
    return _after_attempt(email, actor=user)


@dataclass
class ReplyAttempt:
    email: OutboundEmail | None  # None: held (nothing inserted, nothing sent)
    statements: list[Statement] = field(default_factory=list)
    held: str = ""  # why an automatic reply is not sent: the `reply_throttled` detail


_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))"
_AUTO = "e.automatic AND e.status <> 'failed' AND e.created_at > now() - make_interval(hours => %s)"
_COUNT_TO = f'SELECT count(*) FROM inquiries_outboundemail e WHERE lower(e."to") = %s AND {_AUTO}'
_COUNT_CLIENT = (f"SELECT count(*) FROM inquiries_outboundemail e JOIN inquiries_run r ON r.id = e.run_id "
                 f"JOIN inquiries_inquiry i ON i.id = r.inquiry_id WHERE i.api_client_id = %s AND {_AUTO}")


def _throttled_insert(email: OutboundEmail, *, to: str, client) -> Statement:
    """INSERT of the guard row only while both counts are under their limits."""
    columns, values = insert_parts(email)
    fields = [f for f in email._meta.concrete_fields if not f.generated and not isinstance(f, models.AutoField)]
    casts = ", ".join(f"%s::{f.db_type(connection)}" for f in fields)
    assert len(fields) == len(values)
    sql = (f"INSERT INTO {email._meta.db_table} ({', '.join(columns)}) SELECT {casts} "
           f"WHERE ({_COUNT_TO}) < %s AND ({_COUNT_CLIENT}) < %s "
           "ON CONFLICT (run_id, kind) DO NOTHING RETURNING id")
    return sql, [*values, to, 24, settings.AUTO_REPLY_PER_RECIPIENT, client, 1, settings.AUTO_REPLY_PER_CLIENT_HOUR]


def reply_send_once(lease: Lease, *, body: str) -> ReplyAttempt:
    """The worker sends the run's automatic reply, at most once and within the throttles. Returns
    the e-mail and the statements that record how the send went (its status, the `reply_sent`
    event), for the step that sent it; or why it is held."""
    run = lease.run
    to = run.inquiry.sender_email.strip().lower()
    if own_address(to):
        return ReplyAttempt(None, held="own domain: the recipient is our own sending address or domain")
    client = run.inquiry.api_client_id
    email = OutboundEmail(run_id=run.pk, kind=EmailKind.REPLY, to=run.inquiry.sender_email,
                          subject=reply_subject(run.inquiry.subject), body=body, automatic=True, attempts=1)
    locks = [(_LOCK, ["autoflow.reply.to", to])] + ([(_LOCK, ["autoflow.reply.client", str(client)])] if client else [])
    # Committed synchronously whatever the worker's connection says: this row is the guard.
    rows = send_held(lease, [(f"SELECT ({_COUNT_TO}), ({_COUNT_CLIENT})", [to, 24, client, 1]),
                             _throttled_insert(email, to=to, client=client),
                             ("SELECT 1 FROM inquiries_outboundemail WHERE run_id = %s AND kind = %s",
                              [run.pk, EmailKind.REPLY])],
                     first=[("SELECT set_config('synchronous_commit', 'on', true)", None), *locks])
    (per_to, per_client), inserted, exists = rows[-3][0], rows[-2], rows[-1]
    if not inserted:
        if exists:
            return ReplyAttempt(OutboundEmail.objects.get(run_id=run.pk, kind=EmailKind.REPLY))
        if per_to >= settings.AUTO_REPLY_PER_RECIPIENT:
            return ReplyAttempt(None, held=f"{per_to} automatic replies to this recipient in 24 h "
                                           f"(AUTO_REPLY_PER_RECIPIENT {settings.AUTO_REPLY_PER_RECIPIENT})")
        return ReplyAttempt(None, held=f"{per_client} automatic replies for this API client in 1 h "
                                       f"(AUTO_REPLY_PER_CLIENT_HOUR {settings.AUTO_REPLY_PER_CLIENT_HOUR})")
    email.id = inserted[0][0]
    _deliver(email)
    sets = ", ".join(f"{name} = %s" for name in _DELIVERY_FIELDS)
    statements = [(f"UPDATE inquiries_outboundemail SET {sets} WHERE id = %s",
                   [*(getattr(email, name) for name in _DELIVERY_FIELDS), email.pk])]
    if email.status == EmailStatus.SENT:
        statements.append(insert(event(run.pk, RunEventType.REPLY_SENT, f"Reply sent to {email.to}",
                                       {"email_id": email.pk})))
        statements.append(enqueue_statement(run.pk, WebhookEvent.REPLY_SENT, lease.snapshot()))
    elif email.status == EmailStatus.RETRYING:
        _schedule_retry(email)
    return ReplyAttempt(email, statements)
