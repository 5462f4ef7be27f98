"""Helpers for tests (and chaos/) that run AutoFlow as real processes (web tier, workers,
`make run`), on the one local stack of scripts/stack.py."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from scripts import pids
from scripts.common import REPO
from scripts.stack import Stack, spawn_worker
from scripts.web import WebStack

CLOSED_PORT_URL = "http://127.0.0.1:9"


def base_env(**overrides: str) -> dict[str, str]:
    # DB_POOL: an ASGI import in this process sets it; a worker or gunicorn must not inherit it.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DB_POOL")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "autoflow.settings",
        "APP_ENV": "development",
        "OLLAMA_BASE_URL": CLOSED_PORT_URL,
        "PYTHONUNBUFFERED": "1",
    })
    env.update(overrides)
    return env


def wait_for(url: str, *, timeout: float = 60, proc: subprocess.Popen | None = None,
             ok=lambda r: r.status_code == 200) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | httpx.Response | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} while waiting for {url}")
        try:
            response = httpx.get(url, timeout=2)
            if ok(response):
                return response
            last = response
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout}s: {last!r}")


def stop(proc: subprocess.Popen, sig: int = 15, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout=timeout)


def admin_login(base: str, username: str, password: str) -> httpx.Client:
    """Sign in through the admin login form, as a browser would (CSRF included)."""
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"},
        headers={"Referer": f"{base}/admin/login/"},
    )
    assert response.status_code == 302, response.text[:500]
    assert response.headers["location"] == "/admin/"
    return client


def start_worker(stack, log_path=None) -> subprocess.Popen:
    """The worker cluster on `stack.env` (scripts/stack.py's spawn_worker: its own process group,
    dying with this process); its output goes to `log_path`, or nowhere unless
    AUTOFLOW_TEST_WEB_OUTPUT is set."""
    if log_path is not None:
        output = open(log_path, "ab")  # noqa: SIM115 - the child keeps it; closed here after the fork
    else:
        output = subprocess.DEVNULL if not os.environ.get("AUTOFLOW_TEST_WEB_OUTPUT") else None
    try:
        return spawn_worker(stack.env, stdout=output, stderr=subprocess.STDOUT if log_path else output)
    finally:
        if log_path is not None:
            output.close()


def kill_worker(worker: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """SIGKILL goes to every process of the cluster (a crash); SIGTERM to its main process only,
    which stops its own workers in order. Either way nothing of the cluster is left afterwards."""
    if pids.exited(worker) is None:
        if sig == signal.SIGKILL:
            os.killpg(worker.pid, sig)
        else:
            os.kill(worker.pid, sig)  # not worker.send_signal: that reaps it, freeing its group id
    status = pids.wait_exit(worker, 30)
    pids.end_group(worker)  # whatever happened, no process of this cluster outlives the test
    if status is None:
        raise subprocess.TimeoutExpired(worker.args, 30)


def serve(stack: Stack, *, output=None, run_dir=None) -> WebStack:
    """A web tier on the stack as the tests run it (nginx, gunicorn with two workers, daphne),
    ready; its processes write to `output` (a file), or nowhere unless AUTOFLOW_TEST_WEB_OUTPUT
    is set."""
    web = stack.start_web(http_workers=2, quiet=not os.environ.get("AUTOFLOW_TEST_WEB_OUTPUT"), output=output,
                          run_dir=run_dir)
    wait_for(f"{web.url}/health/live")
    return web


PG_TEMPLATE_ENV = "AUTOFLOW_TEST_PG_TEMPLATE"


def make_pg_template() -> Path:
    """A PostgreSQL cluster migrated by this checkout, then stopped, in a scratch folder the caller
    removes; its `postgres` folder is what PG_TEMPLATE_ENV names. A LiveStack copies it instead of
    running initdb and `migrate` (about 5 s of each stack's start, twice that on a loaded machine)."""
    from scripts.services import local_services, scratch_base

    base = scratch_base()
    with local_services(persistent=False, want_redis=False, base=base) as services:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, check=True,
                       env={**base_env(), **services.env})
    return base


def pg_template() -> Path | None:
    """The migrated cluster of this test session (tests/conftest.py), if there is one."""
    path = os.environ.get(PG_TEMPLATE_ENV)
    return Path(path) if path and (Path(path) / "data" / "PG_VERSION").exists() else None


class LiveStack(Stack):
    """AutoFlow as real processes on its own PostgreSQL and Redis (which tests may stop), migrated,
    behind the real web tier. Keys are configured as production would have them. Started when
    made; `stop()` ends it. Server data lives in `base_dir`, or in a scratch folder removed on stop."""

    WEBHOOK_KEY = "wk_live_test_key_0123456789abcdef"
    ADMIN_KEY = "ak_live_test_key_fedcba9876543210"
    ORIGIN = "https://crm.example.com"

    def __init__(self, base_dir=None, *, web_log=None, **overrides: str):
        super().__init__(base_env(**{
            "WEBHOOK_API_KEY": self.WEBHOOK_KEY, "AUTOFLOW_ADMIN_API_KEY": self.ADMIN_KEY,
            "WEBHOOK_RATE_LIMIT": "100000/m", "READ_RATE_LIMIT": "100000/m", "CORS_ORIGINS": self.ORIGIN,
            "WEBSOCKET_HEARTBEAT_SECONDS": "1", "LOG_LEVEL": "WARNING", **overrides,  # any of these may be overridden too
        }), base_dir=base_dir, pg_template=pg_template())
        self.web_log = web_log  # a path: the web tier's output goes there
        self.start()
        try:
            if web_log:
                with open(web_log, "ab") as output:  # the children keep their own descriptors
                    serve(self, output=output)
            else:
                serve(self)
        except BaseException:
            self.stop()
            raise


@contextlib.contextmanager
def live_stack(**overrides: str):
    """A LiveStack in a scratch folder, removed afterwards."""
    stack = LiveStack(**overrides)
    try:
        yield stack
    finally:
        stack.stop()
