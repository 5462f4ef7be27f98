"""The history's CSV export: the runs the history's filters select, with their outcome fields,
streamed row by row over a server-side cursor (however many runs match, the memory is one chunk)
and safe to open in a spreadsheet (core/csv_safe.py)."""

import csv
from collections.abc import Iterable, Iterator

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.http import StreamingHttpResponse
from django.utils import timezone

from core.csv_safe import csv_safe
from inquiries.models import OutboundEmail, RunEvent, RunEventType, RunStep

CHUNK = 1000
# (header, value field of the annotated queryset)
COLUMNS = [
    ("run_id", "id"), ("created_at", "created_at"), ("finished_at", "finished_at"), ("status", "status"),
    ("intent", "intent"), ("intent_confidence", "intent_confidence"), ("confidence_band", "confidence_band"),
    ("language", "language"), ("sentiment", "sentiment"), ("severity", "severity"), ("lead_score", "lead_score"),
    ("lead_tier", "lead_tier"), ("escalate", "escalate"), ("escalation_rules", "escalation_reasons"),
    ("escalation_reason", "escalation_reason"), ("resolved_at", "resolved_at"),
    ("first_response_at", "first_response_at"), ("first_response_automatic", "first_response_automatic"),
    ("fallback", "had_fallback"), ("llm_backend", "llm_backend"), ("workflow_version", "workflow_version"),
    ("sender_name", "inquiry__sender_name"), ("sender_email", "inquiry__sender_email"),
    ("subject", "inquiry__subject"),
]


class _Echo:
    """The file a csv.writer writes to: each row is handed back instead of stored."""

    def write(self, value: str) -> str:
        return value


def _rules(reasons) -> str:
    if not isinstance(reasons, list):
        return ""
    return ";".join(str(r.get("rule", "")) for r in reasons if isinstance(r, dict))


def _rows(runs: QuerySet) -> Iterator[list[str]]:
    first_reply = (OutboundEmail.objects.filter(run=OuterRef("pk"), status="sent", sent_at__isnull=False)
                   .order_by("sent_at"))
    annotated = runs.annotate(
        first_response_at=Subquery(first_reply.values("sent_at")[:1]),
        first_response_automatic=Subquery(first_reply.values("automatic")[:1]),
        had_fallback=Exists(RunEvent.objects.filter(run=OuterRef("pk"), type=RunEventType.FALLBACK))
        | Exists(RunStep.objects.filter(run=OuterRef("pk"), outputs__has_key="fallback")),
    )
    fields = [field for _, field in COLUMNS]
    yield [header for header, _ in COLUMNS]
    for values in annotated.values_list(*fields).iterator(chunk_size=CHUNK):
        row = dict(zip(fields, values, strict=True))
        row["escalation_reasons"] = _rules(row["escalation_reasons"])
        yield [csv_safe(row[field]) for field in fields]


def runs_csv_response(runs: QuerySet, *, name: str = "autoflow-runs") -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    lines: Iterable[str] = (writer.writerow(row) for row in _rows(runs))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.now():%Y%m%dT%H%M%SZ}.csv"'
    response["Cache-Control"] = "no-store"
    return response
