"""`make run`'s orchestrator (scripts/run.py) on an empty data folder: it starts its own
PostgreSQL and Redis, migrates, loads the demo data, prints the operator password once, serves
the product, restarts a web tier or worker cluster that dies, and Ctrl-C stops everything it
started. A run killed without cleanup is taken over by the next one, or ended by its watchdog."""

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

from inquiries.demo_data import KNOWLEDGE_BASE
from scripts import pids
from scripts.common import REPO, free_port, port_open
from scripts.pg_server import PostgresServer
from scripts.redis_server import RedisServer
from scripts.run import RECORD, WATCHDOG_GRACE
from scripts.services import scratch_base
from testutils.live import admin_login, base_env, stop, wait_for

pytestmark = pytest.mark.services

PASSWORD_LINE = re.compile(r"as '(?P<user>\w+)' with password: (?P<password>\S+)")


class Run:
    """`python -m scripts.run` with its output collected as it comes."""

    def __init__(self, env: dict[str, str]):
        # Its own session and process group, as `make run` in a terminal: a test can kill it whole.
        self.proc = pids.spawn([sys.executable, "-m", "scripts.run"], label="make-run", cwd=REPO, env=env,
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

    def wait_for_output(self, text: str, *, after: int = 0, timeout: float = 60) -> re.Match:
        """The first match of the pattern `text` in the output past offset `after`."""
        deadline = time.monotonic() + timeout
        while not (match := re.compile(text).search(self.output, after)):
            assert self.proc.poll() is None, self.output
            assert time.monotonic() < deadline, f"{text!r} not in:\n{self.output}"
            time.sleep(0.1)
        return match

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


def _recorded(run_dir) -> dict[str, pids.Proc]:
    """The processes the run records (RUN_DIR/processes) by label: supervisor, watchdog, nginx,
    gunicorn, daphne, worker and the local servers, with their workers and children."""
    return {proc.label: proc for proc in pids.Record(run_dir / RECORD.name).read()}


def _everything(run_dir) -> list[pids.Proc]:
    """Every living process of the run, as /proc shows it: recorded ones, their groups and descendants."""
    found = pids.family(pids.Record(run_dir / RECORD.name).read())
    assert {"supervisor", "watchdog", "nginx", "gunicorn", "daphne", "worker"} <= {p.label for p in found}
    return found


def _servers_of_yours(base) -> tuple[PostgresServer, RedisServer]:
    pg, redis = PostgresServer(base / "postgres", free_port()), RedisServer(base / "redis", free_port())
    pg.start()
    redis.start()
    return pg, redis


@pytest.fixture
def run_dir():
    from scripts.run import end_leftovers

    path = scratch_base()
    yield path
    end_leftovers(path / RECORD.name)  # whatever a failed or hung test left running
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def session_servers() -> dict[str, str]:
    """DATABASE_URL and REDIS_URL of the test run: a make run on them starts faster."""
    return {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}


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
    assert f"{len(KNOWLEDGE_BASE)} already there" in output


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


def _webhook(base: str) -> httpx.Response:
    return httpx.post(f"{base}/api/v1/webhook", timeout=10, json={
        "sender_name": "Dana Lee", "sender_email": "dana@example.com", "subject": "Free trial",
        "body": "Is there a free trial, and do I need a credit card to start it?"})


def _wait_terminal(base: str, run_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while (state := httpx.get(f"{base}/api/v1/status/{run_id}", timeout=10).json()["status"]) not in (
            "completed", "escalated", "error"):
        assert time.monotonic() < deadline, f"run {run_id} still {state} after {timeout} s"
        time.sleep(0.2)
    return state


def test_a_killed_worker_cluster_is_restarted_while_the_webhook_answers(run_dir, session_servers):
    ports = {"pg": free_port(), "redis": free_port(), "web": free_port()}
    base = f"http://127.0.0.1:{ports['web']}"
    run = _start(run_dir, ports, WEBHOOK_RATE_LIMIT="100000/m", **session_servers)
    try:
        web = [_recorded(run_dir)[name] for name in ("nginx", "gunicorn", "daphne")]
        worker = int(run.wait_for_output(r"worker cluster started \(pid (\d+)\)")[1])
        for _ in range(6):  # every web worker has served once (a cold one spends its first second importing)
            assert _webhook(base).status_code == 200
        mark = len(run.output)

        os.killpg(worker, signal.SIGKILL)  # every process of the cluster: a crash
        answers, run_ids = [], []
        until = time.monotonic() + 3  # the restart delay and the new cluster's start
        while "the worker cluster restarted" not in run.output[mark:] or time.monotonic() < until:
            response = _webhook(base)
            answers.append(response.status_code)
            run_ids.append(response.json().get("run_id"))
            assert run.proc.poll() is None, run.output
        assert set(answers) == {200}, answers  # accepted while no worker ran
        assert len(answers) >= 3, answers
        assert re.search(rf"worker cluster \(pid {worker}\) exited with -9; restarting the worker cluster in 1 s",
                         run.output[mark:]), run.output[mark:]
        restarted = int(run.wait_for_output(r"the worker cluster restarted \(pid (\d+)\)", after=mark)[1])
        assert restarted != worker
        assert all(proc.alive() for proc in web), "the web tier was touched"
        assert _wait_terminal(base, run_ids[0]) in ("completed", "escalated")  # taken by the new cluster

        # A cluster that exits on its own (cleanly, here) is restarted too, after a longer delay.
        mark = len(run.output)
        os.kill(restarted, signal.SIGTERM)
        run.wait_for_output(rf"\(pid {restarted}\) exited with 0; restarting the worker cluster in 2 s", after=mark)
        again = int(run.wait_for_output(r"the worker cluster restarted \(pid (\d+)\)", after=mark)[1])
        assert again != restarted
        assert _webhook(base).status_code == 200
        assert all(proc.alive() for proc in web)
    finally:
        run.interrupt()
    assert not port_open(ports["web"])


def test_a_dead_web_process_is_restarted_while_the_worker_stays(run_dir, session_servers):
    ports = {"pg": free_port(), "redis": free_port(), "web": free_port()}
    base = f"http://127.0.0.1:{ports['web']}"
    run = _start(run_dir, ports, **session_servers)
    try:
        recorded = _recorded(run_dir)
        worker, daphne = recorded["worker"], recorded["daphne"]
        mark = len(run.output)

        os.killpg(recorded["gunicorn"].pid, signal.SIGKILL)  # master and workers
        run.wait_for_output(r"gunicorn \(pid \d+\) exited with -9; restarting the web tier in 1 s", after=mark)
        run.wait_for_output(r"the web tier restarted \(gunicorn pid \d+\)", after=mark)
        assert wait_for(f"{base}/health/live", timeout=30).status_code == 200
        assert worker.alive()
        assert daphne.alive()

        # The nginx master alone: its orphaned worker still holds the port, the restart ends it.
        nginx_worker = next(p for p in pids.family([recorded["nginx"]]) if p.pid != recorded["nginx"].pid)
        mark = len(run.output)
        os.kill(recorded["nginx"].pid, signal.SIGKILL)
        run.wait_for_output(r"nginx \(pid \d+\) exited with -9; restarting the web tier in 2 s", after=mark)
        run.wait_for_output(r"the web tier restarted \(nginx pid \d+\)", after=mark)
        assert wait_for(f"{base}/health", timeout=30).json()["database"] is True
        assert not nginx_worker.alive()
        assert worker.alive()
        assert daphne.alive()
        assert "stopping everything" not in run.output
    finally:
        run.interrupt()
    assert not worker.alive()


def test_a_run_killed_with_its_process_group_is_taken_over_and_ctrl_c_leaves_nothing(run_dir):
    base = scratch_base()
    pg, redis = _servers_of_yours(base)
    try:
        ports = {"pg": free_port(), "redis": free_port(), "web": free_port()}
        urls = {"DATABASE_URL": pg.url, "REDIS_URL": redis.url}
        killed = _start(run_dir, ports, **urls)
        first = _everything(run_dir)
        os.killpg(killed.proc.pid, signal.SIGKILL)  # kill -9 of `make run`'s process group
        killed.proc.wait()
        assert port_open(ports["web"])  # nginx, gunicorn, daphne and the worker were not in that group

        again = _start(run_dir, ports, **urls)
        assert "left by an earlier run" in again.output
        assert not [p for p in first if p.alive()]
        second = _everything(run_dir)
        assert wait_for(f"http://127.0.0.1:{ports['web']}/health", timeout=30).json()["status"] == "ok"
        again.interrupt()

        left = [f"{p.pid} {p.label}: {p.cmdline()}" for p in first + second if p.alive()]
        assert not left, left
        assert not port_open(ports["web"])
        assert pg.is_running()  # servers of yours are left alone
        assert redis.is_running()
    finally:
        redis.stop()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_a_killed_run_nobody_takes_over_is_ended_by_its_watchdog(run_dir, session_servers):
    ports = {"pg": free_port(), "redis": free_port(), "web": free_port()}
    killed = _start(run_dir, ports, **session_servers)
    everything = _everything(run_dir)
    os.killpg(killed.proc.pid, signal.SIGKILL)
    killed.proc.wait()
    deadline = time.monotonic() + WATCHDOG_GRACE + 30
    while left := [p for p in everything if p.alive()]:
        assert time.monotonic() < deadline, [f"{p.pid} {p.label}: {p.cmdline()}" for p in left]
        time.sleep(0.5)
    assert not port_open(ports["web"])
    assert not (run_dir / RECORD.name).exists()
