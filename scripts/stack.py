"""One local AutoFlow: PostgreSQL and Redis (ours, or servers of yours given by URL), migrated,
with the web tier and worker clusters started and stopped on demand.

    with Stack(env) as stack:            # servers up, `manage.py migrate` done
        stack.start_web()                # nginx + gunicorn + daphne (scripts/web.py)
        stack.start_worker()             # `manage.py runcluster` (WORKER_COMMAND)
        ...                              # stack.url, stack.env, stack.sql(...), stack.pg, stack.redis
                                         # on exit: workers, web tiers, then Redis and PostgreSQL

Used by `make run` (scripts/run.py, which supervises the web tier and the worker cluster it
starts here), by the tests' live stacks (testutils/live.py), by bench/ and by chaos/.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from scripts import pids
from scripts.common import REPO, WORKER_COMMAND, free_port, fresh_metrics_dir
from scripts.pg_server import PostgresServer
from scripts.redis_server import RedisServer
from scripts.services import Services, local_services
from scripts.web import WebStack


def spawn_worker(env: dict[str, str], *, die_with_parent: bool = True, stdout=None,
                 stderr=None) -> subprocess.Popen:
    """The worker cluster (WORKER_COMMAND) from REPO, leading its own process group, which then
    holds all of its processes. It forks its processes: a connection pool opened before the fork
    would be shared by all of them, so it keeps plain connections whatever `env` says."""
    return pids.spawn([sys.executable, *WORKER_COMMAND], label="worker", die_with_parent=die_with_parent,
                      cwd=REPO, env={**env, "DB_POOL": "false"}, stdout=stdout, stderr=stderr)


class WorkerCluster:
    """One worker cluster, also a part of `supervise` (scripts/supervise.py): its main process
    leads a process group that holds all of its processes."""

    def __init__(self, env: dict[str, str], *, die_with_parent: bool = True, stdout=None, stderr=None):
        self.env = env
        self.die_with_parent = die_with_parent
        self.stdout, self.stderr = stdout, stderr
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> str:
        self.process = spawn_worker(self.env, die_with_parent=self.die_with_parent, stdout=self.stdout,
                                    stderr=self.stderr)
        return f"pid {self.process.pid}"

    def crashed(self) -> str | None:
        status = pids.exited(self.process)
        return None if status is None else f"the worker cluster (pid {self.process.pid}) exited with {status}"

    def end_crashed(self) -> None:
        pids.end_group(self.process)

    def restart(self) -> str:
        return self.start()

    def identities(self) -> list[pids.Proc]:
        main = self.process and pids.identify(self.process.pid, "worker")
        return pids.family([main]) if main else []

    def stop(self) -> None:
        # The main process only: it stops its own processes, in order; stragglers are killed after.
        if self.process:
            pids.stop_children([(self.process, signal.SIGTERM)], timeout=35)


class Stack:
    """PostgreSQL and Redis, migrated, plus the web tiers and worker clusters started on it.

    `env`: the environment of every process (default: ours); DATABASE_URL and REDIS_URL are set
    to the servers started here, or to `database_url` / `redis_url` when given (no server is
    started for those). Server data lives in `base_dir` (left in place), in `.run/` when
    `persistent`, else in a scratch folder removed on stop. `die_with_parent`: Redis, the web
    tiers and the workers get SIGTERM when this process dies (`make run` leaves them to its
    watchdog instead). `migrate`: run `manage.py migrate` once the servers are up. `pg_template`:
    a stopped cluster migrated by this checkout, copied instead of a new one (the tests' stacks)."""

    def __init__(self, env: dict[str, str] | None = None, *, base_dir: Path | None = None, persistent: bool = False,
                 database_url: str | None = None, redis_url: str | None = None, pg_port: int | None = None,
                 redis_port: int | None = None, die_with_parent: bool = True, migrate: bool = True,
                 pg_template: Path | None = None):
        self.base_env = dict(os.environ if env is None else env)
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.persistent = persistent
        self.database_url, self.redis_url = database_url, redis_url
        self.pg_port, self.redis_port = pg_port, redis_port
        self.die_with_parent = die_with_parent
        self.migrate_on_start = migrate
        self.pg_template = pg_template  # a migrated cluster to copy: then there is nothing to migrate
        self.env: dict[str, str] = {}
        self.services: Services | None = None
        self.pg: PostgresServer | None = None
        self.redis: RedisServer | None = None
        self.webs: list[WebStack] = []
        self.workers: list[WorkerCluster] = []
        self._exit: contextlib.ExitStack | None = None

    # --- servers -----------------------------------------------------------------------------

    def start(self) -> Stack:
        """Start the servers (unless given by URL) and migrate; everything is stopped again when
        this fails."""
        if self._exit is not None:
            return self
        self._exit = contextlib.ExitStack()
        try:
            self.services = self._exit.enter_context(local_services(
                persistent=self.persistent, pg_port=self.pg_port, redis_port=self.redis_port,
                want_postgres=not self.database_url, want_redis=not self.redis_url,
                die_with_parent=self.die_with_parent, base=self.base_dir, pg_template=self.pg_template,
            ))
            self.pg = next((s for s in self.services.servers if isinstance(s, PostgresServer)), None)
            self.redis = next((s for s in self.services.servers if isinstance(s, RedisServer)), None)
            given = {key: url for key, url in (("DATABASE_URL", self.database_url), ("REDIS_URL", self.redis_url))
                     if url}
            self.env = {**self.base_env, **given, **self.services.env}
            # One folder for the metrics of every process of this stack: its web tiers and workers.
            metrics = Path(self.env.get("PROMETHEUS_MULTIPROC_DIR") or self.base / "metrics")
            self.env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(metrics))
            if self.migrate_on_start and not (self.pg and self.pg.from_template):
                self.migrate()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base(self) -> Path:
        """The folder of the servers' data (and, by default, of the web tier's files)."""
        return self.services.base

    def identities(self) -> list[pids.Proc]:
        """The local servers' processes (not the web tiers' or workers')."""
        return self.services.identities() if self.services else []

    def manage(self, *args: str, quiet: bool = False) -> subprocess.CompletedProcess:
        """`manage.py ARGS` on the stack's environment, dying with us; `quiet`: output captured."""
        return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=self.env, check=True,
                              capture_output=quiet, preexec_fn=pids.dying_with_parent())

    def migrate(self, *, quiet: bool = True) -> None:
        self.manage("migrate", "--noinput", *(["-v0"] if quiet else []))

    def sql(self, query: str, params=()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def redis_client(self):
        import redis

        return redis.Redis.from_url(self.env["REDIS_URL"], decode_responses=True)

    # --- web tiers and workers ----------------------------------------------------------------

    def start_web(self, *, host: str = "127.0.0.1", port: int | None = None, run_dir: Path | None = None,
                  http_workers: int | None = None, quiet: bool = False, output=None) -> WebStack:
        """A web tier on the stack (scripts/web.py), started: its ports are open."""
        web = WebStack(env=self.env, host=host, port=port or free_port(), run_dir=run_dir or self.base / "web",
                       http_workers=http_workers, quiet=quiet, output=output, die_with_parent=self.die_with_parent)
        web.start()
        self.webs.append(web)
        return web

    @property
    def web(self) -> WebStack:
        return self.webs[0]

    @property
    def url(self) -> str:
        return self.web.url

    def start_worker(self, *, env: dict[str, str] | None = None, quiet: bool = False, stdout=None,
                     stderr=None) -> WorkerCluster:
        """A worker cluster on the stack's environment (updated by `env`); `quiet`: no output."""
        if quiet:
            stdout = stderr = subprocess.DEVNULL
        worker = WorkerCluster({**self.env, **(env or {})}, die_with_parent=self.die_with_parent, stdout=stdout,
                               stderr=stderr)
        worker.start()
        self.workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        while self.workers:
            self.workers.pop(0).stop()

    def stop_processes(self) -> None:
        """The web tiers, then the workers; the servers keep running."""
        try:
            while self.webs:
                self.webs.pop(0).stop()
        finally:
            self.stop_workers()

    def stop(self) -> None:
        """Everything started here: web tiers, workers, then Redis and PostgreSQL."""
        try:
            self.stop_processes()
        finally:
            if self._exit is not None:
                self._exit.close()
