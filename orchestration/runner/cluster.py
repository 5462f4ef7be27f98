"""The worker cluster: `manage.py runcluster` (see __init__ for the whole picture).

It loads the code and trains the built-in classifier once, then forks its worker processes, which
share those pages (PSS counts them once). It lowers its own CPU priority first, so its workers
yield the CPU to the web tier on a shared machine. A worker that dies is forked again after a
backoff (1 s, doubling to 30 s; back to 1 s once one has stayed up for a minute), and the new one
queues again at once the runs its predecessor held. SIGTERM or SIGINT stops the workers (each
finishes or hands back its runs) and then the cluster. Each worker dies with the cluster.
"""

import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
STOP_SECONDS = 30
BACKOFF_MAX_SECONDS = 30.0
STABLE_SECONDS = 60.0
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent exits, then make sure it has not already."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: no such call
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def lower_priority(nice: int) -> None:
    """Lower the cluster's CPU priority (its workers inherit it). Linux groups the processes of a
    session for scheduling ("autogroup") and shares the CPU between groups whatever the nice values
    inside them, so a cluster leading its own session (as `make run` starts it) lowers its group's
    priority too. Under systemd or in a container, the service's cgroup weight decides instead
    (CPUWeight=, --cpu-shares): give the workers a lower one than the web tier."""
    if nice <= 0:
        return
    try:
        os.nice(nice)
    except OSError:
        logger.warning("could not lower the worker cluster's CPU priority")
    if os.getsid(0) == os.getpid():
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(nice))


def preload() -> None:
    """Import what every run needs and train the classifier before forking, so the workers share it."""
    from orchestration.engines.classifier import get_classifier
    from orchestration.graph import build_graph

    build_graph()
    try:
        get_classifier()
    except Exception:  # each worker trains its own, later
        logger.exception("training the classifier before forking failed")
    connections.close_all()
    gc.collect()
    gc.freeze()  # the preloaded objects never get collected: their pages stay shared


class Cluster:
    def __init__(self, *, processes: int, concurrency: int) -> None:
        self.processes = max(1, processes)
        self.concurrency = concurrency
        self.children: dict[int, int] = {}  # pid -> worker index
        self.restarts = [0] * self.processes
        self.started = [0.0] * self.processes
        self.backoff = [1.0] * self.processes
        self.due: dict[int, float] = {}  # worker index -> when to fork it again
        self.stopping = False
        self.name = ""

    def run(self) -> int:
        from orchestration.tasks import worker_name

        self.name = worker_name()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # its workers' metrics go there (core/metrics.py)
            Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        lower_priority(settings.RUN_WORKER_NICE)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        preload()
        logger.info("worker cluster %s: %s processes x %s runs in flight", self.name, self.processes,
                    self.concurrency)
        for index in range(self.processes):
            if not self.stopping:
                self._fork(index)
        while not self.stopping:
            self._reap()
            now = time.monotonic()
            for index, when in list(self.due.items()):
                if now >= when and not self.stopping:
                    del self.due[index]
                    self._fork(index)
            time.sleep(0.2)
        return self._stop_children()

    def _stop(self, signum, _frame) -> None:
        self.stopping = True

    def _fork(self, index: int) -> None:
        parent = os.getpid()
        # A SIGTERM arriving around the fork must reach the child's own handler, not the copy of
        # ours it starts with: signals wait, blocked, until each process has its handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                os._exit(self._child(index, parent))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        self.children[pid] = index
        self.started[index] = time.monotonic()
        logger.info("worker process %s started (pid %s)", index, pid)

    def _child(self, index: int, parent: int) -> int:
        code = 1
        try:
            die_with_parent(parent)
            from core import tracing
            from core.redis_client import reset_redis_pool

            from .worker import Worker

            reset_redis_pool()
            # Each process its own exporter thread (none is forked): off unless OTEL_* asks for it.
            tracing.setup("autoflow-worker")
            worker = Worker(concurrency=self.concurrency, cluster=self.name, restarts=self.restarts[index])

            def stop(signum, _frame) -> None:
                worker.stopping.set()
                worker.wake.set()

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the cluster, which says SIGTERM
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            code = worker.serve()
        except BaseException:
            traceback.print_exc()
        finally:
            from core import tracing

            tracing.shutdown()  # os._exit follows: no atexit hook would export the last spans
            sys.stdout.flush()
            sys.stderr.flush()
        return code

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            index = self.children.pop(pid, None)
            if index is None or self.stopping:
                continue
            lived = time.monotonic() - self.started[index]
            if lived > STABLE_SECONDS:
                self.backoff[index] = 1.0
            delay = self.backoff[index]
            self.backoff[index] = min(delay * 2, BACKOFF_MAX_SECONDS)
            self.restarts[index] += 1
            logger.warning("worker process %s (pid %s) %s after %.0f s; starting it again in %.0f s", index, pid,
                           _describe(status), lived, delay)
            self.due[index] = time.monotonic() + delay

    def _stop_children(self) -> int:
        logger.info("stopping the worker cluster")
        for pid in self.children:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while self.children and time.monotonic() < deadline:
            self._reap_all()
            time.sleep(0.1)
        for pid in self.children:
            _signal(pid, signal.SIGKILL)
        self._reap_all()
        return 0

    def _reap_all(self) -> None:
        for pid in list(self.children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.children.pop(pid, None)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with {os.waitstatus_to_exitcode(status)}"
