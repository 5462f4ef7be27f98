"""What we hold about one person: exported as one JSON document, or erased everywhere
(docs/reliability.md, "Retention, erasure and export").

A person is an e-mail address: the inquiries sent from it (any case) or linked to its contact.
Erasure keeps what the audit needs (run ids, times, statuses, intents, event types) and
anonymises the rest in one transaction: inquiries, the runs' texts, steps' inputs and outputs,
events' messages and data, e-mails, webhook deliveries' payloads; it deletes the contact, its lead scores, the idempotency
records and the LangGraph checkpoints of the runs, then their Redis keys once committed.
RunEvent's append-only trigger lets exactly this through (migration 0009): `autoflow.erasure` is
set for the erasing transaction only. Both acts are audited with a keyed hash of the address
(HMAC-SHA256 with SECRET_KEY), never the address itself.
"""

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from core.timestamps import utc_iso
from inquiries import hotstate
from inquiries.errors import ActionRefused
from inquiries.models import (
    AuditAction,
    Contact,
    IdempotencyRecord,
    Inquiry,
    LeadScoreEntry,
    OutboundEmail,
    Run,
    RunEvent,
    RunStatus,
    RunStep,
)

from .audit import audit_record

ERASED = "[erased]"
ERASED_EMAIL = "erased@erased.invalid"
# LangGraph's checkpoint tables (orchestration/checkpointer.py; thread id = run id), by name: the
# rows of a run go in the same transaction as the run's own, which the saver's pool cannot do.
CHECKPOINT_TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints")


def address_hash(email: str) -> str:
    """The keyed hash the audit log records instead of an address."""
    return hmac.new(settings.SECRET_KEY.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def checkpoints_count(run_ids) -> int:
    """How many of these runs have LangGraph checkpoints."""
    threads = [str(run_id) for run_id in run_ids]
    if not threads:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT thread_id) FROM checkpoints WHERE thread_id = ANY(%s)", [threads])
        return cursor.fetchone()[0]


def checkpoints_forget(run_ids) -> int:
    """Delete the LangGraph checkpoints of these runs in the current transaction; how many runs had any."""
    threads = [str(run_id) for run_id in run_ids]
    found = checkpoints_count(threads)
    with connection.cursor() as cursor:
        for table in CHECKPOINT_TABLES if found else ():
            cursor.execute(f"DELETE FROM {table} WHERE thread_id = ANY(%s)", [threads])  # noqa: S608
    return found


def claims_by_run(run_ids) -> dict:
    """The idempotency claims (caller, key) of these runs, by run: their Redis cache keys."""
    claims: dict = {}
    for run_id, caller, key in IdempotencyRecord.objects.filter(run_id__in=run_ids).values_list("run_id", "caller", "key"):
        claims.setdefault(run_id, []).append((caller, key))
    return claims


def inquiries_of(email: str):
    """The inquiries of one person: sent from the address (any case) or linked to its contact."""
    address = email.strip()
    return Inquiry.objects.filter(Q(sender_email__iexact=address) | Q(contact__email=address.lower()))


def _row(obj: models.Model, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    row = {}
    for field in obj._meta.concrete_fields:
        if field.name in exclude:
            continue
        value = getattr(obj, field.attname)
        row[field.attname] = utc_iso(value) if hasattr(value, "tzinfo") and hasattr(value, "hour") else value
    return row


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def contact_export(*, email: str, actor=None, actor_label: str = "", ip: str = "") -> dict[str, Any]:
    """Everything held about one person, as one JSON-ready document; the export is audited."""
    address = email.strip()
    contact = Contact.objects.filter(email=address.lower()).first()
    inquiries = list(inquiries_of(address).select_related("api_client").order_by("created_at", "id"))
    runs = list(Run.objects.filter(inquiry__in=inquiries).order_by("created_at"))
    by_run = {run.pk: run for run in runs}
    children: dict[str, dict] = {"steps": {}, "events": {}, "emails": {}, "idempotency_keys": {}}
    for name, queryset, exclude in (
        ("steps", RunStep.objects.filter(run__in=runs).order_by("sequence"), ("run",)),
        ("events", RunEvent.objects.filter(run__in=runs).order_by("created_at", "id"), ("run",)),
        ("emails", OutboundEmail.objects.filter(run__in=runs).order_by("created_at"), ("run",)),
        ("idempotency_keys", IdempotencyRecord.objects.filter(run__in=runs), ("run", "fingerprint")),
    ):
        for obj in queryset:
            children[name].setdefault(obj.run_id, []).append(_row(obj, exclude=exclude))
    document = {
        "exported_at": utc_iso(timezone.now()),
        "email": address.lower(),
        "contact": _row(contact) if contact else None,
        "lead_scores": [_row(entry) for entry in LeadScoreEntry.objects.filter(
            (Q(contact=contact) if contact else Q(pk__in=[])) | Q(run__in=runs)).order_by("created_at")],
        "inquiries": [{
            **_row(inquiry),
            "api_client": inquiry.api_client.name if inquiry.api_client else None,
            "runs": [{**_row(run), **{name: children[name].get(run.pk, []) for name in children}}
                     for run in runs if run.inquiry_id == inquiry.pk],
        } for inquiry in inquiries],
    }
    audit_record(action=AuditAction.CONTACT_EXPORTED, target=f"contact:{address_hash(address)[:16]}", actor=actor,
                 actor_label=actor_label, ip=ip,
                 detail={"address_hmac": address_hash(address), "inquiries": len(inquiries), "runs": len(by_run)})
    return _jsonable(document)


def _mentions(text: str, needles: list[str]) -> bool:
    lowered = text.lower()
    return any(needle in lowered for needle in needles)


def _erase_runs(runs: list[Run], needles: list[str]) -> dict[str, int]:
    run_ids = [run.pk for run in runs]
    for run in runs:
        reasons = [{"rule": reason.get("rule", ""), "detail": ERASED} for reason in run.escalation_reasons or []
                   if isinstance(reason, dict)]
        Run.objects.filter(pk=run.pk).update(
            escalation_reasons=reasons, escalation_reason="; ".join(f"{r['rule']}: {ERASED}" for r in reasons),
            handoff_summary=ERASED if run.handoff_summary else "", draft_response=ERASED if run.draft_response else "",
            final_response=ERASED if run.final_response else "", error=ERASED if run.error else "",
            resolution_note=ERASED if run.resolution_note else "",
            entities={},  # read from the inquiry: numbers, amounts, links, addresses (citations are ours)
            updated_at=timezone.now())
    steps = RunStep.objects.filter(run_id__in=run_ids)
    for step_id, action in steps.values_list("pk", "action"):
        if _mentions(action, needles):
            RunStep.objects.filter(pk=step_id).update(action=ERASED)
    counts = {"steps": steps.update(output=ERASED, inputs={}, outputs={}, error="")}
    with connection.cursor() as cursor:  # only this transaction may rewrite events (migration 0009)
        cursor.execute("SELECT set_config('autoflow.erasure', 'on', true)")
    counts["events"] = RunEvent.objects.filter(run_id__in=run_ids).update(message=ERASED, data={})
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('autoflow.erasure', 'off', true)")
    counts["emails"] = OutboundEmail.objects.filter(run_id__in=run_ids).update(
        to=ERASED_EMAIL, subject=ERASED, body=ERASED, error="")
    return counts


def _erase_webhook_payloads(run_ids) -> int:
    """The webhook deliveries' copies of the runs' RunStatus keep only the event, the run id and
    its status (one not yet delivered is sent so, marked `erased`)."""
    if not run_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("UPDATE inquiries_webhookdelivery SET payload = jsonb_build_object('event', payload->'event', "
                       "'run_id', payload->'run_id', 'status', payload->'status', 'erased', true), "
                       "last_response_excerpt = '' WHERE run_id = ANY(%s::uuid[])", [[str(r) for r in run_ids]])
        erased = cursor.rowcount
        # Each attempt's excerpt of the receiver's answer too: receivers often echo the payload.
        cursor.execute("UPDATE inquiries_webhookattempt SET response_excerpt = '' WHERE delivery_id IN "
                       "(SELECT id FROM inquiries_webhookdelivery WHERE run_id = ANY(%s::uuid[]))",
                       [[str(r) for r in run_ids]])
        return erased


def contact_erase(*, email: str, actor=None, actor_label: str = "", ip: str = "") -> dict[str, int]:
    """Erase one person everywhere (module docstring); returns what was erased, by kind. Refused
    while one of their runs is still running: its worker would write their data again."""
    address = email.strip()
    with transaction.atomic():
        inquiries = list(inquiries_of(address).select_for_update(of=("self",)))
        contacts = list(Contact.objects.filter(Q(email=address.lower()) | Q(inquiries__in=inquiries)).distinct())
        runs = list(Run.objects.select_for_update().filter(inquiry__in=inquiries))
        if any(run.status == RunStatus.RUNNING for run in runs):
            raise ActionRefused("a run of this person is still running: erase them once it has ended")
        names = {inquiry.sender_name for inquiry in inquiries} | {contact.name for contact in contacts}
        needles = sorted({address.lower(), *(name.lower() for name in names if len(name.strip()) >= 3),
                          *(part.lower() for name in names for part in name.split() if len(part) >= 3)})
        run_ids = [run.pk for run in runs]
        claims = claims_by_run(run_ids)
        counts = _erase_runs(runs, needles)
        counts["idempotency_records"] = IdempotencyRecord.objects.filter(run_id__in=run_ids).delete()[0]
        counts["webhook_payloads"] = _erase_webhook_payloads(run_ids)
        counts["checkpoint_threads"] = checkpoints_forget(run_ids)
        counts["lead_scores"] = LeadScoreEntry.objects.filter(
            Q(contact__in=contacts) | Q(run_id__in=run_ids)).delete()[0]
        counts["inquiries"] = Inquiry.objects.filter(pk__in=[i.pk for i in inquiries]).update(
            sender_name=ERASED, sender_email=ERASED_EMAIL, subject=ERASED, body=ERASED, metadata={},
            raw_payload={}, client_ip=None, contact=None)
        counts["contacts"] = Contact.objects.filter(pk__in=[c.pk for c in contacts]).delete()[1].get(
            Contact._meta.label, 0)
        counts["runs"] = len(run_ids)
        audit_record(action=AuditAction.CONTACT_ERASED, target=f"contact:{address_hash(address)[:16]}", actor=actor,
                     actor_label=actor_label, ip=ip, detail={"address_hmac": address_hash(address), **counts})
        transaction.on_commit(lambda: [hotstate.run_forget(run_id, claims.get(run_id, [])) for run_id in run_ids])
    return counts
