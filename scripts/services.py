"""Local PostgreSQL and Redis servers owned by the project.

Used by `make run` (persistent data under `.run/`), by `make test` (throw-away servers in a
temporary folder) and, through scripts/stack.py, by the tests, bench/ and chaos/.
The servers themselves are scripts/pg_server.py and scripts/redis_server.py; when this runs as
root they run as an unprivileged service user (see scripts/common.py).

    python -m scripts.services up                # start the .run/ servers, print their URLs, wait
    python -m scripts.services throwaway -- CMD  # fresh servers for CMD, removed afterwards
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scripts import pids
from scripts.common import (
    REPO,
    RUN_DIR,
    free_port,
    is_root,
    log,
    reachable_by_service_user,
)
from scripts.pg_server import PostgresServer
from scripts.redis_server import RedisServer


def persistent_base() -> Path:
    """`.run/` in the checkout, or a folder the service user can reach when the checkout is not."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if reachable_by_service_user(RUN_DIR):
        return RUN_DIR
    digest = hashlib.sha256(str(REPO).encode()).hexdigest()[:12]
    fallback = Path("/var/tmp") / f"autoflow-{digest}"
    fallback.mkdir(mode=0o755, exist_ok=True)
    log(f"{RUN_DIR} is not reachable by the service user; keeping server data in {fallback}")
    return fallback


def scratch_base() -> Path:
    """A temporary folder the service user can reach."""
    base = Path(tempfile.mkdtemp(prefix="autoflow-test-", dir="/tmp" if is_root() else None))
    base.chmod(0o755)
    return base


@dataclass
class Services:
    base: Path  # the folder of the servers' data
    env: dict[str, str] = field(default_factory=dict)  # DATABASE_URL / REDIS_URL of the servers
    servers: list[PostgresServer | RedisServer] = field(default_factory=list)

    def identities(self) -> list[pids.Proc]:
        return [proc for server in self.servers if (proc := server.identity())]


@contextlib.contextmanager
def local_services(*, persistent: bool, pg_port: int | None = None, redis_port: int | None = None,
                   want_postgres: bool = True, want_redis: bool = True,
                   die_with_parent: bool = True, base: Path | None = None,
                   pg_template: Path | None = None) -> Iterator[Services]:
    """Start the servers that are wanted and yield them with the environment that points at them.
    `die_with_parent`: Redis dies with this process (PostgreSQL, detached by pg_ctl, cannot).
    The servers keep their data in `base` when given (left in place afterwards), else in `.run/`
    (`persistent`) or in a scratch folder removed afterwards. `pg_template`: a stopped PostgreSQL
    cluster of ours to copy instead of a new one (see PostgresServer)."""
    given = base is not None
    if base is None:
        base = persistent_base() if persistent else scratch_base()
    services = Services(base)
    try:
        if want_postgres:
            pg = PostgresServer(base / "postgres", pg_port or free_port(), template=pg_template)
            pg.start()
            services.servers.append(pg)
            services.env["DATABASE_URL"] = pg.url
        if want_redis:
            redis = RedisServer(base / "redis", redis_port or free_port(), die_with_parent=die_with_parent)
            redis.start()
            services.servers.append(redis)
            services.env["REDIS_URL"] = redis.url
        yield services
    finally:
        for server in reversed(services.servers):
            server.stop()
        if not persistent and not given:
            shutil.rmtree(base, ignore_errors=True)


def _forward_signals(child: subprocess.Popen) -> None:
    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.services", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the persistent .run/ servers and wait for Ctrl-C")
    throwaway = sub.add_parser("throwaway", help="run a command against fresh servers")
    throwaway.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "up":
        with local_services(
            persistent=True,
            pg_port=int(os.environ.get("AUTOFLOW_PG_PORT", "54329")),
            redis_port=int(os.environ.get("AUTOFLOW_REDIS_PORT", "63799")),
        ) as services:
            for key, value in services.env.items():
                print(f"export {key}='{value}'", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return 0

    cmd = [c for c in args.cmd if c != "--"] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("throwaway needs a command after --")
    with local_services(persistent=False) as services:
        # In our process group (the terminal's Ctrl-C reaches it too), and gone if we are killed.
        child = pids.spawn(cmd, label="throwaway-command", new_session=False, env={**os.environ, **services.env})
        _forward_signals(child)
        return child.wait()


if __name__ == "__main__":
    sys.exit(main())
