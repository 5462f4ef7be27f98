"""Reads. Interfaces (API, console, admin) call these instead of building querysets themselves."""

from django.db.models import Count, QuerySet

from .models import Run


def run_recent(*, limit: int = 20) -> QuerySet[Run]:
    return Run.objects.select_related("inquiry").order_by("-created_at")[:limit]


def run_status_counts() -> dict[str, int]:
    counts = dict.fromkeys(Run.Status.values, 0)
    for row in Run.objects.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts
