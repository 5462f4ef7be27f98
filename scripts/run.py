"""`make run`: the whole product in the foreground.

Starts PostgreSQL and Redis owned by the project (unless DATABASE_URL / REDIS_URL point at servers
of yours), migrates, loads the demo data, says which model backend is in use, then runs the web
server (daphne: HTTP + WebSocket) and the django-q2 worker together. Ctrl-C stops everything it
started, in order: web and worker first, then Redis and PostgreSQL.

Environment: HOST/PORT (web, default 127.0.0.1:8000), AUTOFLOW_PG_PORT (54329),
AUTOFLOW_REDIS_PORT (63799), AUTOFLOW_RUN_DIR (server data, default .run/).
"""

import os
import signal
import subprocess
import sys
import time

from scripts.services import REPO, ServiceError, local_services, log


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True)


def _stop(children: list[subprocess.Popen]) -> None:
    # Signal the main process only: qcluster stops its own worker processes, in order.
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def main() -> int:
    if (REPO / ".env").exists():
        # The same .env the settings read, so that DATABASE_URL/REDIS_URL there mean "use mine".
        import environ

        environ.Env.read_env(REPO / ".env", overwrite=False)
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    stopping = False

    def request_stop(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

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
        if stopping:
            return 0
        children = [
            subprocess.Popen(
                # Access lines come from our middleware (with the request id), not daphne's log.
                [sys.executable, "-m", "daphne", "-b", host, "-p", port, "--proxy-headers",
                 "--access-log", os.devnull, "autoflow.asgi:application"],
                cwd=REPO, env=env, start_new_session=True,
            ),
            subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=REPO, env=env, start_new_session=True),
        ]
        log(f"AutoFlow is up: http://{host}:{port}/ (console /console/, admin /admin/). Ctrl-C stops it.")
        exit_code = 0
        try:
            while not stopping:
                crashed = [c for c in children if c.poll() is not None]
                if crashed:
                    log(f"{crashed[0].args[2]} exited with {crashed[0].returncode}; stopping everything")
                    exit_code = 1
                    break
                time.sleep(0.2)
        finally:
            log("stopping web and worker")
            _stop(children)
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
