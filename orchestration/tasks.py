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
from pathlib import Path

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


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").rpartition("[")[2].rstrip("]")
    except OSError:
        return "0"


@lru_cache(maxsize=1)
def _machine_prefix() -> str:
    """Host name and PID namespace: within them a process id names one process."""
    return f"{socket.gethostname()}:{_pid_namespace()}:"


def worker_name() -> str:
    """The lease owner name of this worker process."""
    return f"{_machine_prefix()}{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not reaped yet runs nothing
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def dead_local_owners(owners: set[str]) -> frozenset[str]:
    """Lease owners that were worker processes of this machine (same host and PID namespace) and
    no longer exist. Owners elsewhere are never judged: their leases simply expire."""
    prefix = _machine_prefix()
    return frozenset(owner for owner in owners if owner.startswith(prefix)
                     and owner[len(prefix):].isdigit() and not _alive(int(owner[len(prefix):])))


def reap_dead_local_workers() -> dict[str, int]:
    """Run when a worker process starts: the runs whose lease is held by a worker of this machine
    that died (a crash, a kill -9, a timeout) are queued again at once, instead of after their
    lease and the reaper's next minute."""
    dead = dead_local_owners(selectors.running_lease_owners(prefix=_machine_prefix()))
    if not dead:
        return {"requeued": 0, "failed": 0}
    counts = services.runs_reap(max_attempts=settings.RUN_MAX_ATTEMPTS,
                                stale_queue_seconds=settings.RUN_QUEUE_STALE_SECONDS, dead_owners=dead)
    logger.warning("runs of dead workers %s: %s", sorted(dead), counts)
    return counts


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
