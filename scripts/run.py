"""`make run`: the whole product in the foreground.

Starts PostgreSQL and Redis owned by the project (unless DATABASE_URL / REDIS_URL point at servers
of yours), migrates, loads the demo data, says which model backend is in use, then runs the web
tier (nginx in front of gunicorn for HTTP and daphne for WebSockets, see scripts/web.py) and the
django-q2 worker together. Ctrl-C stops everything it started, in order: web and worker first,
then Redis and PostgreSQL.

Environment: HOST/PORT (web, default 127.0.0.1:8000), WEB_WORKERS (3), AUTOFLOW_PG_PORT (54329),
AUTOFLOW_REDIS_PORT (63799), AUTOFLOW_RUN_DIR (server data, default .run/).
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.services import (
    REPO,
    RUN_DIR,
    ServiceError,
    StopRequest,
    local_services,
    log,
    stop_processes,
    supervise,
)
from scripts.web import WebStack

LEFTOVERS = RUN_DIR / "children.pids"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def end_leftovers(record: Path = LEFTOVERS) -> None:
    """End the web and worker processes of a `make run` that was killed without cleaning up
    (each child leads its own process group, recorded with its command line)."""
    if not record.exists():
        return
    for line in record.read_text().splitlines():
        pid_text, _, cmd_hex = line.partition(" ")
        pid = int(pid_text)
        if _cmdline(pid) and _cmdline(pid) == bytes.fromhex(cmd_hex):
            log(f"ending process group {pid} left by an earlier run")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while _cmdline(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
    record.unlink()


def _record_children(pids: list[int]) -> None:
    LEFTOVERS.write_text("".join(f"{pid} {_cmdline(pid).hex()}\n" for pid in pids))


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True)


def main() -> int:
    if (REPO / ".env").exists():
        # The same .env the settings read, so that DATABASE_URL/REDIS_URL there mean "use mine".
        import environ

        environ.Env.read_env(REPO / ".env", overwrite=False)
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    stop = StopRequest()

    RUN_DIR.mkdir(parents=True, exist_ok=True)
    end_leftovers()
    with local_services(
        persistent=True,
        pg_port=int(os.environ.get("AUTOFLOW_PG_PORT", "54329")),
        redis_port=int(os.environ.get("AUTOFLOW_REDIS_PORT", "63799")),
        want_postgres=not os.environ.get("DATABASE_URL"),
        want_redis=not os.environ.get("REDIS_URL"),
    ) as service_env:
        env = {**os.environ, **service_env, "PYTHONUNBUFFERED": "1"}
        env.setdefault("DJANGO_SETTINGS_MODULE", "autoflow.settings")
        _manage(env, "migrate", "--noinput")
        _manage(env, "load_demo_data")
        _manage(env, "llm_status")
        if stop.requested:
            return 0
        web = WebStack(env=env, host=host, port=int(port), run_dir=RUN_DIR / "web")
        web.start()
        # The worker forks its processes: a connection pool opened before the fork would be
        # shared by all of them, so it keeps plain connections whatever the environment says.
        worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=REPO,
                                  env={**env, "DB_POOL": "false"}, start_new_session=True)
        _record_children([*(p.pid for p in web.processes.values()), worker.pid])
        log(f"AutoFlow is up: {web.url}/ (console /console/, admin /admin/). Ctrl-C stops it.")
        try:
            exit_code = supervise(stop, lambda: web.crashed() or (
                f"worker exited with {worker.returncode}" if worker.poll() is not None else None))
        finally:
            log("stopping web and worker")
            web.stop()
            # The worker's main process only: qcluster stops its own worker processes, in order.
            stop_processes([(worker, signal.SIGTERM)], timeout=20)
            LEFTOVERS.unlink(missing_ok=True)
            log("stopping local servers")
    return exit_code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ServiceError as exc:
        log(f"error: {exc}")
        sys.exit(2)
    except subprocess.CalledProcessError as exc:
        log(f"error: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}")
        sys.exit(exc.returncode or 1)
