"""One worker process of the runner: up to RUN_CONCURRENCY tasks at once, in threads (see __init__)."""

import contextlib
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.db import close_old_connections, connections
from django.db.backends.signals import connection_created
from django.utils import timezone
from django.utils.module_loading import import_string

from core.redis_client import hot
from core.timestamps import utc_iso
from inquiries import services, taskqueue
from orchestration import tasks
from orchestration.checkpointer import conninfo

logger = logging.getLogger(__name__)

SCHEDULER_SECONDS = 30
STOP_GRACE_SECONDS = 20
REPORT_KEY = "autoflow:worker:{owner}"


def prepare_connection(sender, connection, **kwargs) -> None:
    """Set up each database connection a worker process opens (see the two helpers)."""
    try:
        with connection.cursor() as cursor:
            if not settings.RUN_SYNCHRONOUS_COMMIT:
                cursor.execute("SET synchronous_commit = off")
            _lower_backend_priority(connection, cursor)
    except Exception:  # never fail a connection over these
        logger.debug("could not prepare a worker's database connection", exc_info=True)


# Why `synchronous_commit = off`: a worker commits several small transactions per run, and waiting
# for each one's WAL flush made the disk the bottleneck of the whole machine, intake's commits
# queueing behind the workers'. Without the wait, a PostgreSQL crash (not a restart) can lose the
# last fraction of a second of worker commits: always a suffix, as if the worker had died that
# much earlier, and its runs resume from what remains (the lease and the step keys make that safe).
# The one write that must be durable before anything is done, the reply e-mail's row, commits
# synchronously (inquiries/services/email.py `reply_send_once`). Intake always commits synchronously: its
# 200 promises the run. RUN_SYNCHRONOUS_COMMIT=true makes every worker commit wait as well.


def _lower_backend_priority(connection, cursor) -> None:
    """Give the PostgreSQL process serving this worker connection the worker's lower CPU priority.

    On a machine shared with the web tier, every runnable PostgreSQL backend gets an equal share of
    the CPU: thirty-two busy worker connections would crowd out the four of intake, whatever the
    workers' own priority. Possible only when PostgreSQL runs on this machine and we may renice its
    processes (root, or its own user); elsewhere nothing is shared and nothing is done."""
    nice = settings.RUN_WORKER_NICE
    host = connection.settings_dict.get("HOST") or "localhost"
    if nice <= 0 or (host not in ("localhost", "127.0.0.1", "::1") and not host.startswith("/")):
        return
    cursor.execute("SELECT pg_backend_pid()")
    (pid,) = cursor.fetchone()
    with contextlib.suppress(OSError):  # not ours to change
        os.setpriority(os.PRIO_PROCESS, pid, max(os.getpriority(os.PRIO_PROCESS, pid), nice))


@dataclass
class Slot:
    task_id: int
    started: float = field(default_factory=time.monotonic)
    run_id: str = ""  # set once the run is claimed: its task is then held with its lease
    is_run: bool = True  # False: a scheduled task, held as it is


class Worker:
    """The dispatcher (the process's main thread) and its helper threads."""

    def __init__(self, *, concurrency: int, cluster: str = "", restarts: int = 0) -> None:
        self.concurrency = max(1, concurrency)
        self.cluster = cluster
        self.restarts = restarts
        self.owner = tasks.worker_name()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.slots: dict[int, Slot] = {}
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="run")
        self.started_at = timezone.now()
        self._last_error = 0.0

    # --- the dispatcher ------------------------------------------------------------------------

    def serve(self) -> int:
        logger.info("worker %s: %s slots", self.owner, self.concurrency)
        connection_created.connect(prepare_connection, dispatch_uid="autoflow-worker-connection")
        for target, name in ((self._listen, "listener"), (self._heartbeat, "heartbeat"),
                             (self._schedule, "scheduler"), (self._warm, "warm-up"),
                             (self._webhooks, "webhooks")):
            threading.Thread(target=target, name=name, daemon=True).start()
        while not self.stopping.is_set():
            self.wake.clear()
            free = self.concurrency - len(self.slots)
            taken = self._take(free) if free > 0 else []
            if taken and len(taken) == free:
                continue  # there may be more waiting
            self.wake.wait(settings.RUN_POLL_SECONDS)
        return self._drain()

    def _take(self, free: int) -> list:
        try:
            taken = taskqueue.take(limit=free, hold_seconds=tasks.lease_hold_seconds())
        except Exception as exc:  # the database is away: keep polling, quietly
            self._complain("taking tasks failed", exc)
            connections["default"].close_if_unusable_or_obsolete()
            self.stopping.wait(1.0)
            return []
        for task_id, task in taken:
            with self.lock:
                self.slots[task_id] = Slot(task_id=task_id, is_run=task["func"] == settings.AUTOFLOW_RUN_TASK)
            self.pool.submit(self._execute, task_id, task)
        return taken

    def _execute(self, task_id: int, task: dict) -> None:
        close_old_connections()
        slot = self.slots[task_id]
        try:
            if task["func"] == settings.AUTOFLOW_RUN_TASK:
                def on_claim(lease, slot=slot) -> None:
                    slot.run_id = str(lease.run_id)

                tasks.run_execute(*task.get("args", ()), task_id=task_id, on_claim=on_claim)
            else:
                self._execute_other(task_id, task)
        except Exception:  # logged by run_execute; its task went back to the queue with a backoff
            logger.debug("task %s failed", task.get("name"), exc_info=True)
        finally:
            with self.lock:
                self.slots.pop(task_id, None)
            close_old_connections()
            self.wake.set()

    def _execute_other(self, task_id: int, task: dict) -> None:
        """A scheduled task (the reaper, the checkpoint pruner): run once, result kept by django-q2."""
        from django_q.brokers import get_broker
        from django_q.monitor import save_task

        func = task["func"]
        try:
            task["result"] = (import_string(func) if isinstance(func, str) else func)(
                *task.get("args", ()), **task.get("kwargs", {}))
            task["success"] = True
        except Exception as exc:
            logger.exception("task %s failed", task.get("name"))
            task["result"], task["success"] = f"{type(exc).__name__}: {exc}", False
        task["stopped"] = timezone.now()
        taskqueue.ack(task_id)
        save_task(task, get_broker())

    def _drain(self) -> int:
        """Stop taking; give the runs in flight STOP_GRACE_SECONDS to end, then hand the rest back
        at once (their leases and tasks) so that another worker takes them up without waiting."""
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self.slots and time.monotonic() < deadline:
            time.sleep(0.1)
        with self.lock:
            left = list(self.slots.values())
        if left:
            logger.warning("worker %s stops with %s runs unfinished; handing them back", self.owner, len(left))
            try:
                services.leases_hand_back(owner=self.owner)
                taskqueue.release(task_ids=[s.task_id for s in left])
            except Exception as exc:  # their leases expire on their own
                self._complain("handing runs back failed", exc)
        hot(lambda r: r.delete(REPORT_KEY.format(owner=self.owner)), 0)
        return 0

    # --- helper threads --------------------------------------------------------------------------

    def _listen(self) -> None:
        """Wake the dispatcher on every NOTIFY autoflow_queue (sent when a transaction that queued
        a task commits)."""
        while not self.stopping.is_set():
            try:
                with psycopg.connect(conninfo(), autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {taskqueue.QUEUE_CHANNEL}")
                    self.wake.set()  # whatever was queued while we were not listening
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.wake.set()
            except Exception as exc:
                self._complain("listening for queued tasks failed", exc)
                self.stopping.wait(1.0)

    def _heartbeat(self) -> None:
        """Renew the leases of the runs in flight and the locks of the tasks held, while each is
        within RUN_TIMEOUT_SECONDS of its start; report this process for the console."""
        interval = tasks.heartbeat_seconds()
        self._report(interval)
        while not self.stopping.wait(interval):
            now = time.monotonic()
            with self.lock:
                live = [s for s in self.slots.values() if now - s.started < settings.RUN_TIMEOUT_SECONDS]
                stuck = len(self.slots) - len(live)
            if stuck:
                logger.warning("worker %s: %s runs past RUN_TIMEOUT_SECONDS; their leases are left to expire",
                               self.owner, stuck)
            try:
                # A run task not claimed yet is held by its take (a whole lease); one whose run was
                # busy or released is handed back, and must stay so (leases_renew).
                services.leases_renew(owner=self.owner, runs={s.run_id: s.task_id for s in live if s.run_id},
                                      task_ids=[s.task_id for s in live if not s.is_run],
                                      hold_seconds=tasks.lease_hold_seconds())
            except Exception as exc:
                self._complain("renewing leases failed", exc)
            finally:
                close_old_connections()
            self._report(interval)

    def _report(self, interval: float) -> None:
        report = {"owner": self.owner, "cluster": self.cluster, "host": self.owner.split(":", 1)[0],
                  "pid": os.getpid(), "slots": self.concurrency, "in_flight": len(self.slots),
                  "restarts": self.restarts, "started_at": utc_iso(self.started_at)}
        hot(lambda r: r.set(REPORT_KEY.format(owner=self.owner), json.dumps(report), ex=max(int(interval * 3), 5)),
            None)

    def _schedule(self) -> None:
        """django-q2's scheduler: queue the scheduled tasks that are due."""
        from django_q.brokers import get_broker
        from django_q.scheduler import scheduler

        while not self.stopping.wait(SCHEDULER_SECONDS):
            try:
                scheduler(broker=get_broker())
            except Exception as exc:
                self._complain("the scheduler failed", exc)
            finally:
                close_old_connections()

    def _webhooks(self) -> None:
        """The outbound webhook sender: every OUTBOUND_WEBHOOK_POLL_SECONDS, the due deliveries
        (claimed with SKIP LOCKED, so the senders of every worker process share them)."""
        while not self.stopping.wait(settings.OUTBOUND_WEBHOOK_POLL_SECONDS):
            try:
                while services.webhooks_deliver_due(limit=20) and not self.stopping.is_set():
                    pass  # a full batch: there may be more due
            except Exception as exc:
                self._complain("delivering webhooks failed", exc)
            finally:
                close_old_connections()

    def _warm(self) -> None:
        """Queue again at once the runs of this machine's dead workers, then load the model."""
        from orchestration.warmup import warm

        warm()

    def _complain(self, what: str, exc: Exception) -> None:
        """Log a repeated failure (the database away) at most every 10 s."""
        now = time.monotonic()
        if now - self._last_error > 10:
            self._last_error = now
            logger.warning("worker %s: %s: %s: %s", self.owner, what, type(exc).__name__, exc)
