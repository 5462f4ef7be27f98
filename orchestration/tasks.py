"""django-q2 tasks. Each loads by id and calls services; all are safe to deliver twice.

`run_execute` is queued by intake in the same transaction as the run. It takes the run's lease
(so two deliveries never run one run twice), resumes from the run's last checkpoint if there is
one (`thread_id = run_id`), and ends the run `completed` or `escalated`. An unexpected error
gives the lease back; the reaper queues the run again until its attempts are used up, then ends
it `error` — never `running` forever.
"""

import logging
import os
import socket
import uuid
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from inquiries import selectors, services
from inquiries.models import Run, RunStatus

from .checkpointer import delete_threads, get_checkpointer
from .graph import RunContext, build_graph
from .llm.engine import Engine, engine_info
from .llm.probe import active_backend

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@lru_cache(maxsize=1)
def _graph():
    return build_graph(checkpointer=get_checkpointer())


def run_execute(run_id: str) -> str:
    owner = worker_name()
    backend = active_backend()
    claim = services.run_claim(
        run_id=run_id, owner=owner, max_attempts=settings.RUN_MAX_ATTEMPTS,
        lease_seconds=settings.RUN_TIMEOUT_SECONDS + settings.RUN_LEASE_SLACK_SECONDS,
        engine=engine_info(backend),
    )
    if claim is None:
        return "skipped"
    run = claim.run
    context = RunContext(run_id=str(run.pk), engine=Engine(run.llm_backend or backend),
                         inquiry=run.inquiry, attempt=claim.attempt,
                         recorded=selectors.run_recorded_steps(run_id=run.pk))
    graph = _graph()
    config = {"configurable": {"thread_id": str(run.pk)}}
    try:
        resume = bool(graph.get_state(config).values)
        state = graph.invoke(None if resume else {"run_id": str(run.pk), "messages": [], "escalation_reasons": [],
                                                  "fallbacks": []},
                             config, context=context, durability=settings.LANGGRAPH_DURABILITY)
    except Exception as exc:
        logger.exception("run %s attempt %s failed", run_id, claim.attempt)
        services.run_release(run_id=run.pk, owner=owner, error=f"{type(exc).__name__}: {exc}")
        raise
    escalated = bool(state.get("escalation_reasons"))
    services.run_finish(
        run_id=run.pk, status=RunStatus.ESCALATED if escalated else RunStatus.COMPLETED,
        message=("Escalated: " + "; ".join(state["escalation_reasons"]))[:500] if escalated else "Completed",
    )
    return "escalated" if escalated else "completed"


def reap_runs() -> dict[str, int]:
    counts = services.runs_reap(max_attempts=settings.RUN_MAX_ATTEMPTS,
                                stale_queue_seconds=settings.RUN_QUEUE_STALE_SECONDS)
    if any(counts.values()):
        logger.warning("reaper: %s", counts)
    return counts


def prune_checkpoints() -> int:
    """Delete the checkpoints of runs that ended more than CHECKPOINT_RETENTION_DAYS ago, and of
    runs that no longer exist: a finished run is never resumed, and checkpoints grow fast."""
    cutoff = timezone.now() - timedelta(days=settings.CHECKPOINT_RETENTION_DAYS)
    saver = get_checkpointer()
    with saver._cursor() as cursor:
        cursor.execute("SELECT DISTINCT thread_id FROM checkpoints")
        threads = [row["thread_id"] for row in cursor.fetchall()]
    keep: set[str] = set()
    for start in range(0, len(threads), 1000):
        chunk = [t for t in threads[start:start + 1000] if _is_uuid(t)]
        keep.update(str(pk) for pk in Run.objects.filter(pk__in=chunk).filter(
            Q(status=RunStatus.RUNNING) | Q(finished_at__gte=cutoff)).values_list("pk", flat=True))
    doomed = [t for t in threads if t not in keep]
    delete_threads(doomed)
    return len(doomed)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
