"""The retention window (RETENTION_DAYS; 0 keeps everything): runs that ended before it are
deleted with everything that belongs to them (docs/reliability.md, "Retention, erasure and export").

In batches, each its own short transaction (far inside DB_STATEMENT_TIMEOUT_MS): the runs with
their steps, events, e-mails, idempotency records and lead scores, their LangGraph checkpoints,
then the inquiries and contacts left without runs; their Redis keys once each batch commits. A
running run is never touched, however old. One audit entry per purge gives the counts, never a
person's data."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.timestamps import utc_iso
from inquiries import hotstate
from inquiries.models import (
    AuditAction,
    Contact,
    IdempotencyRecord,
    Inquiry,
    LeadScoreEntry,
    OutboundEmail,
    Run,
    RunEvent,
    RunStep,
)

from .audit import audit_record
from .privacy import checkpoints_count, checkpoints_forget, claims_by_run

KINDS = ("runs", "steps", "events", "emails", "idempotency_records", "lead_scores", "checkpoint_threads",
         "inquiries", "contacts")


def expired_runs(cutoff):
    return Run.objects.filter(status__in=Run.TERMINAL_STATUSES, finished_at__lt=cutoff)


def _dry_run(cutoff) -> dict[str, int]:
    runs = expired_runs(cutoff)
    inquiries = Inquiry.objects.filter(runs__in=runs).distinct().exclude(runs__in=Run.objects.exclude(pk__in=runs))
    return {"runs": runs.count(), "steps": RunStep.objects.filter(run__in=runs).count(),
            "events": RunEvent.objects.filter(run__in=runs).count(),
            "emails": OutboundEmail.objects.filter(run__in=runs).count(),
            "idempotency_records": IdempotencyRecord.objects.filter(run__in=runs).count(),
            "lead_scores": LeadScoreEntry.objects.filter(run__in=runs).count(),
            "checkpoint_threads": checkpoints_count(runs.values_list("pk", flat=True)), "inquiries": inquiries.count(),
            "contacts": Contact.objects.filter(inquiries__in=inquiries).distinct()
            .exclude(inquiries__in=Inquiry.objects.exclude(pk__in=inquiries)).count()}


def _purge_batch(cutoff, batch_size: int, counts: dict[str, int]) -> int:
    with transaction.atomic():
        ids = list(expired_runs(cutoff).order_by("finished_at").select_for_update(skip_locked=True, of=("self",))
                   .values_list("pk", flat=True)[:batch_size])
        if not ids:
            return 0
        inquiry_ids = set(Run.objects.filter(pk__in=ids).values_list("inquiry_id", flat=True))
        claims = claims_by_run(ids)
        counts["lead_scores"] += LeadScoreEntry.objects.filter(run_id__in=ids).delete()[0]
        counts["checkpoint_threads"] += checkpoints_forget(ids)
        deleted = Run.objects.filter(pk__in=ids).delete()[1]
        for kind, model in (("runs", Run), ("steps", RunStep), ("events", RunEvent), ("emails", OutboundEmail),
                            ("idempotency_records", IdempotencyRecord)):
            counts[kind] += deleted.get(model._meta.label, 0)
        orphans = Inquiry.objects.filter(pk__in=inquiry_ids, runs__isnull=True)
        contact_ids = set(orphans.exclude(contact=None).values_list("contact_id", flat=True))
        counts["inquiries"] += orphans.delete()[1].get(Inquiry._meta.label, 0)
        gone = Contact.objects.filter(pk__in=contact_ids, inquiries__isnull=True).delete()[1]
        counts["contacts"] += gone.get(Contact._meta.label, 0)
        counts["lead_scores"] += gone.get(LeadScoreEntry._meta.label, 0)
        transaction.on_commit(lambda: [hotstate.run_forget(run_id, claims.get(run_id, [])) for run_id in ids])
    return len(ids)


def runs_purge_expired(*, days: int | None = None, dry_run: bool = False, batch_size: int = 200,
                       actor=None, actor_label: str = "system:retention") -> dict[str, int]:
    """Apply the retention window; what was (or, with `dry_run`, would be) removed, by kind."""
    days = settings.RETENTION_DAYS if days is None else days
    counts = dict.fromkeys(KINDS, 0)
    if days <= 0:
        return counts
    cutoff = timezone.now() - timedelta(days=days)
    if dry_run:
        return _dry_run(cutoff)
    while _purge_batch(cutoff, batch_size, counts) == batch_size:
        pass
    audit_record(action=AuditAction.RETENTION_PURGE, target=f"finished before {utc_iso(cutoff)}", actor=actor,
                 actor_label=actor_label, detail={"retention_days": days, **counts})
    return counts
