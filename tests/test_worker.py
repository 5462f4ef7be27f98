"""The worker as real processes: `manage.py runcluster` on the ORM queue, the web tier, the fake
Ollama as its own process, PostgreSQL and Redis of their own. Inquiries go in over HTTP; the
tests watch over HTTP, WebSocket and SQL — and kill the worker with SIGKILL mid-run."""

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import websockets

from scripts.common import REPO
from testutils.fake_ollama import fake_ollama_process
from testutils.live import LiveStack, kill_worker, live_stack, start_worker

pytestmark = pytest.mark.services

TERMINAL = ("completed", "escalated", "error")


@pytest.fixture(scope="module")
def fake_ollama(tmp_path_factory):
    """The fake Ollama in a process of its own, each model call taking 0.8 s."""
    with fake_ollama_process(tmp_path_factory.mktemp("fake-ollama"), mode="slow", delay=0.8) as url:
        yield url


@pytest.fixture(scope="module")
def stack(fake_ollama):
    with live_stack(OLLAMA_BASE_URL=fake_ollama, LLM_BACKEND="auto", Q_WORKERS="2") as live:
        subprocess.run([sys.executable, "manage.py", "load_demo_data"], cwd=REPO, env=live.env, check=True,
                       capture_output=True)
        yield live


@pytest.fixture
def worker(stack):
    proc = start_worker(stack)
    yield proc
    kill_worker(proc, signal.SIGTERM)


def submit(stack: LiveStack, subject: str, body: str) -> str:
    response = httpx.post(f"{stack.url}/api/v1/webhook", timeout=10, headers={
        "X-API-Key": stack.WEBHOOK_KEY, "Idempotency-Key": str(uuid.uuid4())},
        json={"sender_name": "Dana Lee", "sender_email": f"dana+{uuid.uuid4().hex[:6]}@example.com",
              "subject": subject, "body": body})
    assert response.status_code == 200, response.text
    return response.json()["run_id"]


def status(stack: LiveStack, run_id: str) -> dict:
    response = httpx.get(f"{stack.url}/api/v1/status/{run_id}", headers={"X-API-Key": stack.WEBHOOK_KEY}, timeout=10)
    assert response.status_code == 200
    return response.json()


def wait_terminal(stack: LiveStack, run_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = status(stack, run_id)
        if current["status"] in TERMINAL:
            return current
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} not terminal after {timeout}s: {current}")


def test_a_real_worker_takes_runs_to_their_end_with_live_progress(stack, worker):
    run_id = submit(stack, "Free trial", "Is there a free trial, and do I need a credit card to start it?")

    async def watch() -> list[dict]:
        url = stack.url.replace("http", "ws") + f"/api/v1/ws/{run_id}?token={stack.WEBHOOK_KEY}"
        events = []
        async with asyncio.timeout(90), websockets.connect(url, open_timeout=10) as ws:
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if event["type"] != "heartbeat":
                    events.append(event)
                if event["type"] in TERMINAL:
                    return events

    seen_in_flight = []

    async def poll_while_running() -> None:
        for _ in range(200):
            current = await asyncio.to_thread(status, stack, run_id)
            if current["status"] == "running" and current["agent_steps"]:
                seen_in_flight.append(current["current_agent"])
            if current["status"] in TERMINAL:
                return
            await asyncio.sleep(0.1)

    async def both():
        return await asyncio.gather(watch(), poll_while_running())

    events, _ = asyncio.run(both())

    final = wait_terminal(stack, run_id)
    assert final["status"] == "completed"
    assert final["llm_backend"] == "ollama"
    assert [s["node"] for s in final["agent_steps"]] == [
        "classify_intent", "faq_node", "synthesize_response_node", "log_audit"]
    assert seen_in_flight  # /status showed progress while the run was in flight
    assert events[0]["type"] == "snapshot"
    step_nodes = [e["step"]["node"] for e in events if e["type"] == "step"]
    assert step_nodes[-1] == "log_audit"
    assert events[-1]["type"] == "completed"
    assert events[-1]["run"]["status"] == "completed"
    assert stack.sql("SELECT count(*) FROM inquiries_outboundemail WHERE run_id = %s", [run_id]) == [(1,)]


def test_kill_9_mid_run_resumes_from_the_checkpoint_and_finishes_once(stack):
    first = start_worker(stack)
    run_id = submit(stack, "Free trial", "How long is the free trial, and what happens when it ends?")
    deadline = time.monotonic() + 30
    while not stack.sql("SELECT 1 FROM inquiries_runstep WHERE run_id = %s", [run_id]):
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.05)

    kill_worker(first)  # SIGKILL to the whole cluster, in the middle of the run

    done_before = stack.sql("SELECT node FROM inquiries_runstep WHERE run_id = %s ORDER BY sequence", [run_id])
    assert 1 <= len(done_before) < 4
    assert status(stack, run_id)["status"] == "running"
    # The dead worker's lease (25 s from its last renewal) has not expired, but the new worker on
    # the same machine sees that its holder is gone and queues the run again as it starts.
    lease = stack.sql("SELECT lease_expires_at > now() + interval '10 seconds' FROM inquiries_run WHERE id = %s",
                      [run_id])
    assert lease == [(True,)]
    restarted = time.monotonic()
    second = start_worker(stack)
    try:
        final = wait_terminal(stack, run_id, timeout=60)
    finally:
        kill_worker(second, signal.SIGTERM)
    assert time.monotonic() - restarted < 20  # not lease + reaper minute

    assert final["status"] == "completed"
    nodes = stack.sql("SELECT node, sequence FROM inquiries_runstep WHERE run_id = %s ORDER BY sequence", [run_id])
    assert [n for n, _ in nodes] == ["classify_intent", "faq_node", "synthesize_response_node", "log_audit"]
    assert [s for _, s in nodes] == [1, 2, 3, 4]
    assert [n for n, _ in nodes][:len(done_before)] == [n for (n,) in done_before]
    assert stack.sql("SELECT attempts FROM inquiries_run WHERE id = %s", [run_id]) == [(2,)]
    assert stack.sql("SELECT count(*) FROM inquiries_outboundemail WHERE run_id = %s", [run_id]) == [(1,)]
    events = [t for (t,) in stack.sql("SELECT type FROM inquiries_runevent WHERE run_id = %s ORDER BY id", [run_id])]
    assert "lease_expired" in events
    assert stack.sql("SELECT message FROM inquiries_runevent WHERE run_id = %s AND type = 'lease_expired'",
                     [run_id]) == [("Queued again: its worker is gone",)]
    assert "retried" in events
    assert events.count("reply_sent") == 1
    assert events[-1] == "completed"
    # The checkpoint was used: the nodes recorded before the kill ran once.
    checkpoints = stack.sql("SELECT count(*) FROM checkpoints WHERE thread_id = %s", [run_id])
    assert checkpoints[0][0] > 0


def set_fake(url: str, mode: str, delay: float = 0.0) -> None:
    httpx.post(f"{url}/_fake/mode", json={"mode": mode, "delay": delay}, timeout=5).raise_for_status()


# fault → (final status, the escalation rule expected, whether the built-in engine answered)
FAULTS = {
    "ok": ("completed", "", False),
    "slow": ("escalated", "model_unavailable", True),  # first byte later than the 1 s budget
    "500": ("escalated", "model_unavailable", True),
    "503": ("escalated", "model_unavailable", True),
    "404": ("escalated", "model_unavailable", True),
    "done_false": ("escalated", "model_unavailable", True),
    "length": ("escalated", "model_unavailable", True),
    "error_line": ("escalated", "model_unavailable", True),
    "invalid_json": ("escalated", "model_output_invalid", True),
    "wrong_enum": ("escalated", "model_output_invalid", True),
    "refused": ("escalated", "model_unavailable", True),
}


@pytest.fixture(scope="module")
def fault_stack(fake_ollama):
    """A stack whose worker gives Ollama 1 s per call, retries fast, and whose breaker closes
    again after 1 s, so that each fault below meets Ollama afresh."""
    with live_stack(OLLAMA_BASE_URL=fake_ollama, LLM_BACKEND="ollama", OLLAMA_CALL_TIMEOUT="1",
                    OLLAMA_FIRST_BYTE_TIMEOUT="1", OLLAMA_RETRY_INITIAL_SECONDS="0.05",
                    OLLAMA_BREAKER_RESET_SECONDS="1", ESCALATION_CONFIDENCE_THRESHOLD="0.9",
                    Q_WORKERS="1") as live:
        # The fake answers with confidence 0.93; a fallback's is at most 0.8: the threshold splits them.
        subprocess.run([sys.executable, "manage.py", "load_demo_data"], cwd=REPO, env=live.env, check=True,
                       capture_output=True)
        setup = {"stack": live, "fake": fake_ollama, "worker": start_worker(live)}
        yield setup
        kill_worker(setup["worker"], signal.SIGTERM)
        set_fake(fake_ollama, "slow", 0.8)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_model_fault_ends_the_run_as_the_policy_says(fault_stack, fault):
    stack = fault_stack["stack"]
    status_expected, rule, fell_back = FAULTS[fault]
    refused = fault == "refused"
    if refused:  # Ollama not running at all: the only worker is one pointed at a closed port
        kill_worker(fault_stack["worker"], signal.SIGTERM)
        stack_env = stack.env
        stack.env = {**stack_env, "OLLAMA_BASE_URL": "http://127.0.0.1:9"}
        worker = start_worker(stack)
        stack.env = stack_env
    else:
        set_fake(fault_stack["fake"], fault, 3.0 if fault == "slow" else 0.0)
    time.sleep(1.1)  # let a breaker opened by the previous fault close again
    try:
        run_id = submit(stack, "Free trial", "How long is the free trial, and what happens when it ends?")
        final = wait_terminal(stack, run_id, timeout=90)
    finally:
        if refused:
            kill_worker(worker, signal.SIGTERM)
            fault_stack["worker"] = start_worker(stack)

    assert final["status"] == status_expected, final["escalation_reason"]
    assert final["escalation_reason"].startswith(rule)
    assert final["intent"] in ("faq", "general_inquiry")
    backends = {s["node"]: s["llm_backend"] for s in final["agent_steps"]}
    assert (backends["classify_intent"] == "builtin") is fell_back
    fallbacks = stack.sql("SELECT count(*) FROM inquiries_runevent WHERE run_id = %s AND type = 'fallback'",
                          [run_id])[0][0]
    assert (fallbacks > 0) is fell_back
