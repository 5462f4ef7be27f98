"""django-q2 tasks. Each loads by id and calls services; all are safe to deliver twice.

`run_execute` is queued by intake in the same transaction as the run, and executed by the runner
(orchestration/runner/), up to RUN_CONCURRENCY runs per worker process. It takes the run's lease
(so two deliveries never run one run twice), resumes from the run's last checkpoint if there is
one (`thread_id = run_id`), and ends the run `completed` or `escalated`. An unexpected error
gives the lease back and the task back to the queue after a backoff, until the run's attempts are
used up; then it ends `error` — never `running` forever.
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

from core import metrics, tracing
from inquiries import selectors, services, taskqueue
from inquiries.models import Run, RunStatus

from . import policy
from .checkpointer import delete_threads, get_checkpointer
from .engines.engine import Engine, engine_info
from .engines.probe import active_backend
from .graph import RunContext, build_graph

logger = logging.getLogger(__name__)


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").rpartition("[")[2].rstrip("]")
    except OSError:
        return "0"


@lru_cache(maxsize=1)
def _machine_prefix() -> str:
    """Host name (AUTOFLOW_HOSTNAME, else the machine's) and PID namespace: within them a process
    id names one process."""
    return f"{settings.AUTOFLOW_HOSTNAME or socket.gethostname()}:{_pid_namespace()}:"


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


def lease_hold_seconds() -> float:
    """How far each renewal extends a lease: one heartbeat less than RUN_LEASE_SECONDS, so that a
    run whose worker stopped renewing is free, and taken at the next poll, within RUN_LEASE_SECONDS
    of the last renewal."""
    return max(settings.RUN_LEASE_SECONDS - heartbeat_seconds(), 1.0)


def heartbeat_seconds() -> float:
    return settings.RUN_LEASE_SECONDS / 6


def retry_delay_seconds(attempt: int) -> float:
    """A failed attempt's run goes back to the queue after this (2 s, 4 s, 8 s …, at most 60 s)."""
    return float(min(2 ** attempt, 60))


def run_execute(run_id: str, *, task_id: int | None = None, on_claim=None) -> str:
    """Execute the run of a queued task: claim its lease, run (or resume) the workflow, finish it.
    `task_id`: the queue row the runner took (removed with the run's end); `on_claim(lease)`: the
    runner's hook that puts the run under its worker's heartbeat."""
    owner = worker_name()
    backend = active_backend()
    lease = services.run_claim(run_id=run_id, owner=owner, hold_seconds=lease_hold_seconds(),
                               max_attempts=settings.RUN_MAX_ATTEMPTS, engine=engine_info(backend), task_id=task_id)
    if isinstance(lease, services.Busy):
        # Another worker holds the run. Its lease may yet lapse (that worker died): this task is
        # then what takes the run up, so it comes back when the lease would end.
        if task_id is not None:
            taskqueue.hold_until(task_id=task_id, until=lease.until)
        return "busy"
    if lease is None:
        if task_id is not None:
            taskqueue.ack(task_id)  # nothing to do for this task: the run is gone or finished
        return "skipped"
    if on_claim is not None:
        on_claim(lease)
    # The run's span continues the trace of the webhook request that queued it (core/tracing.py).
    with tracing.span_from(lease.run.trace_context, "run", attributes={
            "autoflow.run_id": str(run_id), "autoflow.attempt": lease.attempt,
            "autoflow.llm_backend": lease.run.llm_backend or backend}) as span:
        outcome = _execute(lease, run_id=run_id, owner=owner, backend=backend, task_id=task_id)
        tracing.set_attributes(span, **{"autoflow.outcome": outcome})
    return outcome


def _execute(lease, *, run_id: str, owner: str, backend: str, task_id: int | None) -> str:
    run = lease.run
    thread_id = str(run.pk)
    saver = get_checkpointer()
    context = RunContext(lease=lease, engine=Engine(run.llm_backend or backend), hold_seconds=lease_hold_seconds(),
                         carried=lambda: saver.take(thread_id), recorded=lease.recorded)
    graph = _graph()
    config = {"configurable": {"thread_id": thread_id}}
    fresh = lease.attempt == 1 and not lease.steps
    try:
        with saver.carry(thread_id, fresh=fresh):
            resume = not fresh and bool(graph.get_state(config).values)
            state = graph.invoke(None if resume else {"run_id": thread_id, "messages": [], "escalation_reasons": [],
                                                      "fallbacks": []},
                                 config, context=context, durability=settings.LANGGRAPH_DURABILITY)
            escalated = policy.should_escalate(state)
            services.run_finish_under_lease(
                lease, status=RunStatus.ESCALATED if escalated else RunStatus.COMPLETED,
                message=("Escalated: " + policy.joined(policy.reasons_of(state)))[:500] if escalated
                else "Completed", carried=saver.take(thread_id))
        metrics.run_finished(status=run.status, intent=state.get("intent", ""), family=state.get("family", ""),
                             band=state.get("confidence_band", ""), backend=run.llm_backend,
                             seconds=(run.finished_at - run.created_at).total_seconds())
    except services.LeaseLost:
        logger.warning("run %s: attempt %s lost its lease to another worker; it stops here", run_id, lease.attempt)
        return "lease_lost"
    except Exception as exc:
        logger.exception("run %s attempt %s failed", run_id, lease.attempt)
        services.run_release(run_id=run.pk, owner=owner, error=f"{type(exc).__name__}: {exc}", task_id=task_id,
                             retry_in=retry_delay_seconds(lease.attempt))
        raise
    return "escalated" if escalated else "completed"


def reap_runs() -> dict[str, int]:
    """Every minute: runs whose task the queue did not hand out again (lost, or acknowledged by
    mistake) are queued again once their lease has been expired for a whole RUN_LEASE_SECONDS."""
    counts = services.runs_reap(max_attempts=settings.RUN_MAX_ATTEMPTS,
                                stale_queue_seconds=settings.RUN_QUEUE_STALE_SECONDS,
                                grace_seconds=settings.RUN_LEASE_SECONDS)
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


def purge_expired() -> dict[str, int]:
    """Daily: the retention window (RETENTION_DAYS) applied (inquiries/services/retention.py)."""
    counts = services.runs_purge_expired()
    if any(counts.values()):
        logger.info("retention: %s", counts)
    return counts


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
