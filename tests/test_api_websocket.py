"""WS /api/v1/ws/{run_id}: snapshot on connect, events published by another process (as the worker
does) through channels-redis, terminal events, heartbeats, and refusals with clear close codes."""

import json
import subprocess
import sys
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from scripts.common import REPO
from testutils.inquiries import KEY, inquiry
from testutils.live import LiveStack

pytestmark = pytest.mark.services

PUBLISH = """
import json, sys, django
django.setup()
from inquiries.realtime import publish_run_event
ok = publish_run_event(sys.argv[1], json.loads(sys.argv[2]))
sys.exit(0 if ok else 3)
"""


def _ws_url(live, run_id, token=LiveStack.WEBHOOK_KEY) -> str:
    base = live.url.replace("http://", "ws://")
    return f"{base}/api/v1/ws/{run_id}" + (f"?token={token}" if token else "")


def _new_run(live) -> str:
    return httpx.post(f"{live.url}/api/v1/webhook", json=inquiry(), headers=KEY, timeout=10).json()["run_id"]


def _publish_from_another_process(live, run_id: str, event: dict) -> None:
    subprocess.run([sys.executable, "-c", PUBLISH, run_id, json.dumps(event)], cwd=REPO, env=live.env,
                   check=True, timeout=30)


def _next(ws, *, skip_heartbeats: bool = True) -> dict:
    while True:
        message = json.loads(ws.recv(timeout=10))
        if not (skip_heartbeats and message["type"] == "heartbeat"):
            return message


def test_snapshot_then_events_from_another_process_then_terminal(live):
    run_id = _new_run(live)
    with connect(_ws_url(live, run_id)) as ws:
        snapshot = _next(ws)
        assert snapshot["type"] == "snapshot"
        assert snapshot["run"]["run_id"] == run_id
        assert snapshot["run"]["status"] == "running"

        step = {"type": "step", "run_id": run_id, "step": {"node": "classify_intent", "sequence": 1}}
        _publish_from_another_process(live, run_id, step)
        assert _next(ws) == step

        final = {"type": "completed", "run": {**snapshot["run"], "status": "completed"}}
        _publish_from_another_process(live, run_id, final)
        assert _next(ws) == final


def test_heartbeats_arrive(live):
    with connect(_ws_url(live, _new_run(live))) as ws:
        assert _next(ws)["type"] == "snapshot"
        heartbeat = json.loads(ws.recv(timeout=5))  # WEBSOCKET_HEARTBEAT_SECONDS=1 in the live stack
        assert heartbeat["type"] == "heartbeat"
        assert heartbeat["at"].endswith("Z")


def test_a_quiet_run_keeps_its_socket_open(live):
    """Longer than the channel layer's blocking read (5 s) with no event: the socket stays up
    (redis-py's default 5 s socket timeout used to end it with 1011) and still gets events."""
    run_id = _new_run(live)
    with connect(_ws_url(live, run_id)) as ws:
        assert _next(ws)["type"] == "snapshot"
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            assert json.loads(ws.recv(timeout=5))["type"] == "heartbeat"
        step = {"type": "step", "run_id": run_id, "step": {"node": "classify_intent", "sequence": 1}}
        _publish_from_another_process(live, run_id, step)
        assert _next(ws) == step


def test_a_finished_run_sends_its_terminal_event_at_once(live):
    run_id = _new_run(live)
    live.sql("UPDATE inquiries_run SET status = 'escalated', escalate = true, finished_at = now(), "
             "escalation_reason = 'low_confidence' WHERE id = %s", [run_id])
    live.redis_client().delete(f"autoflow:run:{run_id}")
    with connect(_ws_url(live, run_id)) as ws:
        assert _next(ws)["type"] == "snapshot"
        terminal = _next(ws)
        assert terminal["type"] == "escalated"
        assert terminal["run"]["escalation_reason"] == "low_confidence"


@pytest.mark.parametrize(("token", "code"), [(None, 4401), ("wrong", 4401)])
def test_refused_without_a_valid_token(live, token, code):
    with connect(_ws_url(live, _new_run(live), token=token)) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd.code == code


def test_unknown_run_is_closed_with_4404(live):
    import uuid

    with connect(_ws_url(live, uuid.uuid4())) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4404


def test_a_browser_on_another_site_is_refused_but_our_origins_are_not(live):
    from websockets.exceptions import InvalidStatus

    run_id = _new_run(live)
    with pytest.raises(InvalidStatus) as refused:
        connect(_ws_url(live, run_id), origin="https://evil.example").close()
    assert refused.value.response.status_code == 403
    for origin in (LiveStack.ORIGIN, live.url):
        with connect(_ws_url(live, run_id), origin=origin) as ws:
            assert _next(ws)["type"] == "snapshot"
