"""`make run`'s orchestrator (scripts/run.py) on an empty data folder: it starts its own
PostgreSQL and Redis, migrates, loads the demo data, prints the operator password once, serves
the product, and Ctrl-C stops everything it started."""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from scripts.services import REPO, free_port, port_open, scratch_base
from tests.live import admin_login, base_env, stop, wait_for

pytestmark = pytest.mark.services

PASSWORD_LINE = re.compile(r"as '(?P<user>\w+)' with password: (?P<password>\S+)")


class Run:
    """`python -m scripts.run` with its output collected as it comes."""

    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, "-m", "scripts.run"], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_up(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while "AutoFlow is up" not in self.output:
            assert self.proc.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.1)

    def interrupt(self) -> str:
        """Ctrl-C, then the whole output."""
        assert stop(self.proc, signal.SIGINT, timeout=60) == 0, self.output
        self.reader.join(timeout=10)
        return self.output


def _start(run_dir, ports: dict[str, int], **extra: str) -> Run:
    env = base_env(
        AUTOFLOW_RUN_DIR=str(run_dir), AUTOFLOW_PG_PORT=str(ports["pg"]),
        AUTOFLOW_REDIS_PORT=str(ports["redis"]), HOST="127.0.0.1", PORT=str(ports["web"]), **extra,
    )
    run = Run(env)
    run.wait_until_up()
    return run


@pytest.fixture
def run_dir():
    from scripts.run import end_leftovers

    path = scratch_base()
    yield path
    end_leftovers(path / "children.pids")  # whatever a failed or hung test left running
    shutil.rmtree(path, ignore_errors=True)


def test_make_run_brings_up_the_product_and_ctrl_c_stops_it(run_dir):
    ports = {"pg": free_port(), "redis": free_port(), "web": free_port()}
    base = f"http://127.0.0.1:{ports['web']}"

    first = _start(run_dir, ports)
    health = wait_for(f"{base}/health", timeout=30).json()
    assert (health["status"], health["database"], health["redis"]) == ("ok", True, True)
    assert health["llm_backend"] == "builtin"  # no Ollama here: the built-in engine, said loudly
    assert httpx.get(f"{base}/", timeout=5).json()["docs"] == "/api/v1/docs"
    output = first.interrupt()

    match = PASSWORD_LINE.search(output)
    assert match, output
    assert "BUILT-IN ENGINE" in output
    assert (run_dir / "postgres" / "data" / "PG_VERSION").exists()
    for port in ports.values():
        assert not port_open(port), f"port {port} still open after Ctrl-C"

    # Second start on the same data: nothing is reset, the password is not printed again.
    second = _start(run_dir, ports)
    wait_for(f"{base}/health", timeout=30)
    client = admin_login(base, match["user"], match["password"])
    runs = client.get("/admin/inquiries/run/")
    assert runs.status_code == 200
    assert "Select run to view" in runs.text
    articles = client.get("/admin/inquiries/knowledgearticle/")
    assert "Refund policy" in articles.text
    output = second.interrupt()
    assert not PASSWORD_LINE.search(output)
    assert "already exists (password unchanged" in output
    assert "11 already there" in output


def test_make_run_uses_servers_of_yours_when_urls_are_given(run_dir):
    # Given DATABASE_URL and REDIS_URL (those of the test run), no local server is started.
    ports = {"pg": free_port(), "redis": free_port(), "web": free_port()}
    run = _start(run_dir, ports, DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=os.environ["REDIS_URL"])
    try:
        body = wait_for(f"http://127.0.0.1:{ports['web']}/health", timeout=30).json()
        assert (body["database"], body["redis"]) == (True, True)
        assert not port_open(ports["pg"])
        assert not port_open(ports["redis"])
        assert not (run_dir / "postgres").exists()
    finally:
        run.interrupt()


def test_make_run_recovers_from_a_killed_run(run_dir):
    ports = {"pg": free_port(), "redis": free_port(), "web": free_port()}
    killed = _start(run_dir, ports)
    # A closed terminal or kill -9: no cleanup at all. PostgreSQL, Redis, nginx, gunicorn, daphne
    # and qcluster all keep running on their own.
    killed.proc.kill()
    killed.proc.wait()
    for port in ports.values():
        assert port_open(port)

    again = _start(run_dir, ports)
    body = wait_for(f"http://127.0.0.1:{ports['web']}/health", timeout=30).json()
    assert (body["database"], body["redis"]) == (True, True)
    output = again.interrupt()
    assert "left by an earlier run" in output
    assert "already running" in output
    for port in ports.values():
        assert not port_open(port)
