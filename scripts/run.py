"""`make run`: the whole product in the foreground.

Starts PostgreSQL and Redis owned by the project (unless DATABASE_URL / REDIS_URL point at servers
of yours), migrates, loads the demo data, says which model backend is in use, then runs the web
tier (nginx in front of gunicorn for HTTP and daphne for WebSockets, see scripts/web.py) and the
worker cluster (`manage.py runcluster`) together, all on one Stack (scripts/stack.py). Either one
that dies is restarted alone, with backoff, while the other keeps running. Ctrl-C or SIGTERM stops everything it started, in order: web and
worker first, then Redis and PostgreSQL.

A run killed without cleanup (kill -9, a lost terminal) leaves its processes to its watchdog,
which ends them all WATCHDOG_GRACE seconds later unless a new `make run` took them over first:
the new run ends the old web tier and worker and adopts the old PostgreSQL and Redis. Both find
them in RUN_DIR/processes, PIDs with their start times (see scripts/pids.py).

Environment: HOST/PORT (web, default 127.0.0.1:8000), WEB_WORKERS (3), AUTOFLOW_PG_PORT (54329),
AUTOFLOW_REDIS_PORT (63799), AUTOFLOW_RUN_DIR (server data, default .run/).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts import pids
from scripts.common import REPO, RUN_DIR, ServiceError, log
from scripts.stack import Stack
from scripts.supervise import StopRequest, supervise
from scripts.web import guard_exposure

RECORD = RUN_DIR / "processes"
WATCHDOG_GRACE = 10.0  # seconds a killed run's processes wait for a new run to take them over
SERVERS = ("postgres", "redis")  # recorded under these labels: adopted by the next run


class Ledger:
    """This run's processes, kept current in RECORD for the next run or the watchdog, should this
    run be killed without cleanup. Each process is also appended when it is started (see
    pids.record_spawns); the ledger adds their descendants and drops the dead."""

    EVERY = 2.0

    def __init__(self, record: pids.Record, *fixed: pids.Proc | None):
        self.record = record
        self.fixed = list(fixed)
        self.sources: list = []  # callables returning identities
        self._written: list[str] = []
        self._due = 0.0

    def save(self) -> None:
        procs = [proc for proc in [*self.fixed, *(proc for source in self.sources for proc in source())] if proc]
        lines = [proc.line() for proc in procs]
        if lines != self._written:
            self.record.write(procs)
            self._written = lines
        self._due = time.monotonic() + self.EVERY

    def tick(self) -> None:
        if time.monotonic() >= self._due:
            self.save()


def _summary(procs: list[pids.Proc]) -> str:
    return ", ".join(sorted({proc.label.split("/")[0] for proc in procs}))


def end_leftovers(record_path: Path = RECORD) -> list[pids.Proc]:
    """End every process of a run recorded in `record_path`, its supervisor and servers included,
    and remove the record."""
    record = pids.Record(record_path)
    with record.locked():
        ended = pids.end(record.read())
        record.path.unlink(missing_ok=True)
    return ended


def _take_over(record: pids.Record) -> list[pids.Proc]:
    """End what an earlier run killed without cleanup left running (its watchdog, web tier and
    worker), and return its servers: they are adopted, or ended once ours are up."""
    entries = record.read()
    supervisor = next((entry for entry in entries if entry.label == "supervisor"), None)
    if supervisor and supervisor.alive():
        raise ServiceError(f"another `make run` (pid {supervisor.pid}) is running on {RUN_DIR}; stop it first")
    ended = pids.end([entry for entry in entries if entry.label not in SERVERS])
    if ended:
        log(f"ended the {_summary(ended)} left by an earlier run ({len(ended)} processes)")
    return [entry for entry in entries if entry.label in SERVERS and entry.alive()]


def _start_watchdog(supervisor: pids.Proc) -> subprocess.Popen:
    with open(RUN_DIR / "watchdog.log", "ab") as output:  # the child keeps its own descriptor
        return pids.spawn(
            [sys.executable, "-m", "scripts.pids", "watch", str(RECORD), str(supervisor.pid), str(supervisor.start),
             str(WATCHDOG_GRACE)],
            label="watchdog", die_with_parent=False, cwd=REPO, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
        )


def _serve(stop: StopRequest, ledger: Ledger, earlier_servers: list[pids.Proc]) -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "autoflow.settings")
    with Stack(
        env,
        persistent=True,
        pg_port=int(os.environ.get("AUTOFLOW_PG_PORT", "54329")),
        redis_port=int(os.environ.get("AUTOFLOW_REDIS_PORT", "63799")),
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        die_with_parent=False,
        migrate=False,  # after the servers of an earlier run are dealt with, below
    ) as stack:
        ours = stack.identities()
        ledger.sources = [stack.identities]
        stale = [server for server in earlier_servers if server not in ours]
        if stale and (ended := pids.end(stale, timeout=30)):
            log(f"stopped the {_summary(ended)} left by an earlier run")
        ledger.save()

        stack.migrate(quiet=False)
        stack.manage("load_demo_data")
        stack.manage("llm_status")
        if stop.requested:
            return 0
        try:
            web = stack.start_web(host=host, port=int(port), run_dir=RUN_DIR / "web")
            ledger.sources.append(web.identities)
            worker = stack.start_worker()
            ledger.sources.append(worker.identities)
            log(f"worker cluster started (pid {worker.pid})")
            ledger.save()
            log(f"AutoFlow is up: {web.url}/ (console /console/, admin /admin/). Ctrl-C stops it.")
            return supervise(stop, {"web tier": web, "worker cluster": worker}, tick=ledger.tick)
        finally:
            log("stopping web and worker")
            stack.stop_processes()
            log("stopping local servers")


def main() -> int:
    if (REPO / ".env").exists():
        # The same .env the settings read, so that DATABASE_URL/REDIS_URL there mean "use mine".
        import environ

        environ.Env.read_env(REPO / ".env", overwrite=False)
    # Before anything starts: an exposed bind without keys is refused at once (scripts/web.py).
    guard_exposure(dict(os.environ), os.environ.get("HOST", "127.0.0.1"))
    stop = StopRequest()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    record = pids.Record(RECORD)
    me = pids.identify(os.getpid(), "supervisor")
    with record.locked():
        earlier_servers = _take_over(record)
        watchdog = _start_watchdog(me)
        ledger = Ledger(record, me, pids.identify(watchdog.pid, "watchdog"))
        ledger.sources = [lambda: earlier_servers]
        ledger.save()
        pids.record_spawns(record)
    try:
        return _serve(stop, ledger, earlier_servers)
    finally:
        with record.locked():
            pids.stop_children([(watchdog, signal.SIGTERM)], timeout=5)
            # Whatever the orderly stop above missed (an earlier run's server we failed to adopt).
            if ended := pids.end([entry for entry in record.read() if entry != me]):
                log(f"ended the {_summary(ended)} still running")
            record.path.unlink(missing_ok=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ServiceError as exc:
        log(f"error: {exc}")
        sys.exit(2)
    except subprocess.CalledProcessError as exc:
        log(f"error: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}")
        sys.exit(exc.returncode or 1)
