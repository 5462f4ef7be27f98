"""Reads. Interfaces (API, console, admin) call these instead of building querysets themselves."""

import json
from typing import Any

from django.db import connection
from django.db.models import Case, Count, Q, QuerySet, Value, When

from core.timestamps import utc_iso

from . import hotstate
from .models import ConfidenceBand, Run, RunStatus, Sentiment, Severity
from .payloads import run_status_payload


def run_get(*, run_id) -> Run | None:
    return Run.objects.select_related("inquiry").filter(pk=run_id).first()


def run_status(*, run_id) -> dict[str, Any] | None:
    """Redis first, checked against PostgreSQL (see `_current_snapshot`); on a miss, PostgreSQL
    (and the snapshot is written back for the next poll)."""
    return _current_snapshot(run_id)


def _current_snapshot(run_id) -> dict[str, Any] | None:
    """The run's snapshot from Redis if PostgreSQL agrees with it, else from PostgreSQL.

    A snapshot is written after its commit, best effort: when that write is lost, Redis keeps the
    older state (or a deleted run's personal data) until its TTL. So a snapshot is served only
    when its `updated_at` is PostgreSQL's (one primary-key lookup of that column; every writer
    sets the snapshot's from the value it stored). Otherwise it is rebuilt from PostgreSQL and
    written back; for a run PostgreSQL no longer has, its Redis keys are removed (None: 404)."""
    cached = hotstate.snapshot_read(run_id)
    if cached is None:
        return run_status_from_db(run_id=run_id, refresh_cache=True)
    stored = Run.objects.filter(pk=run_id).values_list("updated_at", flat=True).first()
    if stored is None:
        hotstate.run_forget(run_id)
        return None
    if cached.get("updated_at") == utc_iso(stored):
        return cached
    return run_status_from_db(run_id=run_id, refresh_cache=True)


def run_status_from_db(*, run_id, refresh_cache: bool = False) -> dict[str, Any] | None:
    run = run_get(run_id=run_id)
    if run is None:
        return None
    payload = run_status_payload(run)
    if refresh_cache:
        hotstate.snapshot_write(payload)
    return payload


def run_steps(*, run_id) -> list[dict[str, Any]] | None:
    """The step list oldest first, or None for an unknown run: the steps of the run's current
    snapshot (`_current_snapshot`), so that a stale or deleted run's steps are never served."""
    status = _current_snapshot(run_id)
    return None if status is None else status["agent_steps"]


def run_submitted_by(*, run_id, api_client_id: int) -> bool:
    """Whether the API client submitted this run (what a read_own key may see)."""
    return Run.objects.filter(pk=run_id, inquiry__api_client_id=api_client_id).exists()


def run_list(*, status: str = "", intent: str = "", q: str = "", api_client_id: int | None = None) -> QuerySet[Run]:
    """Runs newest first (ties by id), filtered; `api_client_id`: only the runs that client submitted."""
    runs = Run.objects.select_related("inquiry").order_by("-created_at", "-pk")
    if api_client_id is not None:
        runs = runs.filter(inquiry__api_client_id=api_client_id)
    if status:
        runs = runs.filter(status=status)
    if intent:
        runs = runs.filter(intent=intent)
    if q:
        runs = runs.filter(
            Q(inquiry__sender_email__icontains=q) | Q(inquiry__sender_name__icontains=q)
            | Q(inquiry__subject__icontains=q)
        )
    return runs


def count_bounded(queryset: QuerySet, *, exact_up_to: int) -> tuple[int, bool]:
    """The number of rows, exact up to `exact_up_to` (a LIMITed count, cheap however large the
    table); beyond it PostgreSQL's planner estimate, never below the bound. Returns (n, exact)."""
    bounded = queryset.order_by()[:exact_up_to + 1].count()
    if bounded <= exact_up_to:
        return bounded, True
    plan = json.loads(queryset.order_by().explain(format="json"))
    plan = plan[0] if isinstance(plan, list) else plan  # Django unwraps PostgreSQL's one-item list
    estimate = int(plan["Plan"]["Plan Rows"])
    return max(estimate, bounded), False


def knowledge_bodies(*, slugs: list[str]) -> list[str]:
    """The titles and bodies of these knowledge-base articles (what a reply may quote)."""
    from .models import KnowledgeArticle

    return [f"{title}\n{body}" for title, body in
            KnowledgeArticle.objects.filter(slug__in=slugs).values_list("title", "body")] if slugs else []


def knowledge_article_ids(*, slugs: list[str]) -> dict[str, int]:
    """The primary keys of the knowledge-base articles with these slugs (what links to them need)."""
    from .models import KnowledgeArticle

    return dict(KnowledgeArticle.objects.filter(slug__in=slugs).values_list("slug", "pk")) if slugs else {}


def product_names() -> list[tuple[str, list[str]]]:
    """The active products and plans as (name, [aliases]), for the entity extractor."""
    from .models import ProductName

    return [(row.name, row.alias_list()) for row in ProductName.objects.filter(is_active=True).order_by("name")]


def run_recent(*, limit: int = 20) -> QuerySet[Run]:
    return Run.objects.select_related("inquiry").order_by("-created_at")[:limit]


def contact_prior_inquiries(*, email: str, exclude_run_id=None) -> int:
    """How many earlier inquiries the sender made (their contact's count, without this run's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.inquiry_count - CASE WHEN EXISTS (SELECT 1 FROM inquiries_run r JOIN inquiries_inquiry i "
            "ON i.id = r.inquiry_id WHERE r.id = %s AND i.contact_id = c.id) THEN 1 ELSE 0 END "
            "FROM inquiries_contact c WHERE c.email = %s", [exclude_run_id, email.strip().lower()])
        row = cursor.fetchone()
    return max(row[0], 0) if row else 0


def knowledge_search(*, text: str, limit: int = 3) -> list[dict[str, Any]]:
    """Published knowledge-base articles matching the text, best first, with their rank: the
    idf-weighted share of the text's terms the article contains, in [0, 1], synonyms and
    misspellings included (inquiries/kb_search.py). `settings.KB_MIN_RANK` is on this scale."""
    from . import kb_search

    return kb_search.search(text, limit=limit)


# --- Console reads -----------------------------------------------------------------------------------

def run_history(*, status: str = "", intent: str = "", q: str = "", escalated: str = "", band: str = "",
                language: str = "", sentiment: str = "", since=None, until=None) -> QuerySet[Run]:
    """Runs newest first, filtered as the console's history asks (escalated: "yes" | "no"; band: a
    confidence band; language: an ISO 639-1 code; sentiment "unknown" also matches runs never read,
    as the RunStatus reports them)."""
    runs = run_list(status=status, intent=intent, q=q)
    if band:
        runs = runs.filter(confidence_band=band)
    if language:
        runs = runs.filter(language=language)
    if sentiment == Sentiment.UNKNOWN:
        runs = runs.filter(sentiment__in=(Sentiment.UNKNOWN, ""))
    elif sentiment:
        runs = runs.filter(sentiment=sentiment)
    if escalated == "yes":
        runs = runs.filter(escalate=True)
    elif escalated == "no":
        runs = runs.filter(escalate=False)
    if since is not None:
        runs = runs.filter(created_at__gte=since)
    if until is not None:
        runs = runs.filter(created_at__lt=until)
    return runs


# The queue's order: the most severe first, then the oldest (a flood cannot bury a critical case).
_SEVERITY_RANK = Case(*(When(severity=value, then=Value(rank)) for rank, value in enumerate(
    (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW))), default=Value(4))


def escalation_queue(*, user=None, queue: str = "open") -> QuerySet[Run]:
    """Escalated runs: `open` (not resolved), `mine` (open and assigned to user), `resolved`.
    A run that joined another escalation (a sender over ESCALATIONS_PER_SENDER_OPEN) is counted
    on that one (`joined`) instead of listed."""
    runs = (Run.objects.select_related("inquiry", "assigned_to")
            .filter(status=Run.Status.ESCALATED, joined_escalation__isnull=True)
            .annotate(joined=Count("joined_runs")))
    if queue == "resolved":
        return runs.filter(resolved_at__isnull=False).order_by("-resolved_at")
    runs = runs.filter(resolved_at__isnull=True)
    if queue == "mine" and user is not None:
        runs = runs.filter(assigned_to=user)
    elif queue == "unassigned":
        runs = runs.filter(assigned_to__isnull=True)
    return runs.order_by(_SEVERITY_RANK, "created_at")


def sender_open_escalations(*, email: str, exclude_run_id=None) -> tuple[int, Any]:
    """How many open escalations of this sender hold a place in the queue, and the oldest's id."""
    runs = (Run.objects.filter(status=Run.Status.ESCALATED, resolved_at__isnull=True,
                               joined_escalation__isnull=True, inquiry__sender_email__iexact=email.strip())
            .exclude(pk=exclude_run_id).order_by("created_at"))
    ids = list(runs.values_list("pk", flat=True)[:1])
    return runs.count(), (ids[0] if ids else None)


def run_webhook_deliveries(*, run_id) -> QuerySet:
    """The run's outbound webhook deliveries, oldest first, with their subscription and attempts."""
    from .models import WebhookDelivery

    return (WebhookDelivery.objects.filter(run_id=run_id).select_related("subscription")
            .prefetch_related("attempt_log").order_by("created_at", "pk"))


def run_events(*, run_id) -> QuerySet:
    from .models import RunEvent

    return RunEvent.objects.filter(run_id=run_id).select_related("actor").order_by("created_at", "id")


def run_stats(*, since) -> dict[str, Any]:
    """Counts by status, intent, confidence band and language, escalation rate, duration
    percentiles and chart series of the runs received since `since`."""
    runs = Run.objects.filter(created_at__gte=since)
    by_status = dict.fromkeys(Run.Status.values, 0)
    for row in runs.values("status").annotate(n=Count("id")):
        by_status[row["status"]] = row["n"]
    by_intent = {row["intent"] or "unclassified": row["n"]
                 for row in runs.values("intent").annotate(n=Count("id")).order_by("-n")}
    by_band = dict.fromkeys(ConfidenceBand.values, 0)  # high, medium, low always; "none" (not classified) when any
    for row in runs.values("confidence_band").annotate(n=Count("id")):
        by_band[row["confidence_band"] or "none"] = row["n"]
    by_language = {row["language"] or "unknown": row["n"]
                   for row in runs.values("language").annotate(n=Count("id")).order_by("-n", "language")}
    finished = by_status["completed"] + by_status["escalated"] + by_status["error"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.95) WITHIN GROUP (ORDER BY d) "
            "FROM (SELECT extract(epoch FROM finished_at - created_at) * 1000 AS d FROM inquiries_run "
            "WHERE created_at >= %s AND finished_at IS NOT NULL) t", [since])
        p50, p95 = cursor.fetchone()
    points = [
        {"at": created, "ms": int((done - created).total_seconds() * 1000), "status": status}
        for created, done, status in runs.filter(finished_at__isnull=False)
        .order_by("-created_at").values_list("created_at", "finished_at", "status")[:300]
    ]
    return {
        "total": sum(by_status.values()), "by_status": by_status, "by_intent": by_intent,
        "by_band": by_band, "by_language": by_language,
        "escalation_rate": (by_status["escalated"] / finished) if finished else None,
        "p50_ms": round(p50) if p50 is not None else None, "p95_ms": round(p95) if p95 is not None else None,
        "points": points,
    }


def run_series(*, since, until, buckets: int = 24) -> list[dict[str, Any]]:
    """Runs per time bucket and status, oldest first, for the "runs over time" chart."""
    width = (until - since) / buckets
    series = [{"start": since + width * i, **dict.fromkeys(Run.Status.values, 0)} for i in range(buckets)]
    for created, status in Run.objects.filter(created_at__gte=since, created_at__lt=until).values_list(
            "created_at", "status").iterator():
        index = min(int((created - since) / width), buckets - 1)
        series[index][status] += 1
    return series


def queue_depth() -> int:
    """Tasks waiting in django-q2's ORM queue for a free worker slot."""
    from . import taskqueue

    return taskqueue.depth()


def worker_clusters() -> list[dict[str, Any]]:
    """The running worker clusters as their processes report themselves (in Redis, with every
    heartbeat): host, processes, runs in flight and slots. Empty when none reports (or Redis is down)."""
    import json

    from core.redis_client import hot

    def read(r) -> list[str]:
        keys = sorted(r.scan_iter(match="autoflow:worker:*", count=500))
        return [raw for raw in (r.mget(keys) if keys else []) if raw]

    clusters: dict[str, dict[str, Any]] = {}
    for raw in hot(read, []):
        report = json.loads(raw)
        cluster = clusters.setdefault(report["cluster"], {
            "name": report["cluster"], "host": report["host"], "status": "running", "workers": 0,
            "in_flight": 0, "slots": 0, "restarts": 0})
        cluster["workers"] += 1
        cluster["in_flight"] += report["in_flight"]
        cluster["slots"] += report["slots"]
        cluster["restarts"] += report["restarts"]
    return sorted(clusters.values(), key=lambda c: c["name"])


def running_lease_owners(*, prefix: str) -> set[str]:
    """The workers (by lease owner name) that hold the lease of a running run, among those whose
    name starts with `prefix`."""
    return set(Run.objects.filter(status=RunStatus.RUNNING, lease_owner__startswith=prefix)
               .values_list("lease_owner", flat=True).distinct())
