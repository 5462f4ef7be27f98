"""Scoped keys and stream tokens over real HTTP and WebSockets, on the live web tier (nginx,
gunicorn, daphne): a read_own key sees its own runs and nothing else — not even whether another
run exists — on every read route, the list and the socket; intake, read and delete scopes gate
their routes. (The statement timeout's test is in tests/test_limits_live.py.)"""

import json
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from testutils.inquiries import ADMIN, KEY, assert_error, inquiry

pytestmark = pytest.mark.services


@pytest.fixture
def stack(live):
    return live


@pytest.fixture
def api(live):
    with httpx.Client(base_url=live.url, timeout=15) as client:
        yield client


def _client(stack, name: str, scopes: str) -> dict:
    done = stack.manage("api_client", "create", f"{name}-{time.monotonic_ns()}", "--scopes", scopes, quiet=True)
    return {"X-API-Key": done.stdout.strip()}


def _ws(stack, run_id: str, token: str):
    return connect(f"{stack.url.replace('http://', 'ws://')}/api/v1/ws/{run_id}?token={token}", open_timeout=10)


def _close_code(stack, run_id: str, token: str) -> int | str:
    with _ws(stack, run_id, token) as ws:
        try:
            message = json.loads(ws.recv(timeout=10))
        except ConnectionClosed as closed:
            return closed.rcvd.code
        return message["type"]


def _without_request_id(response: httpx.Response) -> dict:
    return {k: v for k, v in response.json().items() if k != "request_id"}


def test_a_read_own_key_sees_its_runs_and_nothing_of_anyone_elses(stack, api):
    form_a, form_b = _client(stack, "form-a", "intake,read_own"), _client(stack, "form-b", "intake,read_own")
    mine = api.post("/api/v1/webhook", json=inquiry(subject="Mine"), headers=form_a).json()
    theirs = api.post("/api/v1/webhook", json=inquiry(subject="Theirs, secret"), headers=form_b).json()["run_id"]
    bootstrap = api.post("/api/v1/webhook", json=inquiry(subject="Bootstrap"), headers=KEY).json()["run_id"]
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in ("/api/v1/status/{}", "/api/v1/status/{}/steps", "/api/v1/runs/{}"):
        assert api.get(path.format(mine["run_id"]), headers=form_a).status_code == 200
        refusals = []
        for other in (theirs, bootstrap, unknown):
            response = api.get(path.format(other), headers=form_a)
            assert_error(response, 404, "not_found")
            assert "secret" not in response.text
            refusals.append({**_without_request_id(response), "message": response.json()["message"].replace(other, "?")})
        assert refusals[0] == refusals[1] == refusals[2], refusals  # another's run looks like no run
    listed = api.get("/api/v1/runs", params={"limit": 100}, headers=form_a)
    assert [row["run_id"] for row in listed.json()] == [mine["run_id"]]
    assert listed.headers["x-total-count"] == "1"
    assert "Theirs" not in listed.text
    assert "Bootstrap" not in listed.text
    assert api.get("/api/v1/runs", params={"q": "secret"}, headers=form_a).json() == []
    # The WebSocket: its stream token opens its run; nothing opens another's, nor a read_own key.
    assert mine["ws_url"] == f"/api/v1/ws/{mine['run_id']}?token={mine['stream_token']}"
    assert _close_code(stack, mine["run_id"], mine["stream_token"]) == "snapshot"
    assert _close_code(stack, theirs, mine["stream_token"]) == 4401
    assert _close_code(stack, mine["run_id"], form_a["X-API-Key"]) == 4401
    assert _close_code(stack, theirs, form_a["X-API-Key"]) == 4401
    # The bootstrap key reads everything (read_all), as before.
    assert api.get(f"/api/v1/status/{theirs}", headers=KEY).status_code == 200


def test_scopes_gate_intake_reads_and_delete(stack, api):
    intake_only = _client(stack, "intake", "intake")
    reader = _client(stack, "reader", "read_all")
    deleter = _client(stack, "deleter", "intake,read_own,delete")
    run_id = api.post("/api/v1/webhook", json=inquiry(), headers=intake_only).json()["run_id"]
    assert_error(api.get(f"/api/v1/status/{run_id}", headers=intake_only), 403, "forbidden")
    assert_error(api.get("/api/v1/runs", headers=intake_only), 403, "forbidden")
    assert_error(api.post("/api/v1/webhook", json=inquiry(), headers=reader), 403, "forbidden")
    assert api.get(f"/api/v1/status/{run_id}", headers=reader).status_code == 200
    assert_error(api.delete(f"/api/v1/runs/{run_id}", headers=reader), 403, "forbidden")
    # The delete scope reaches only what the key may read: another's run is a 404 and stays.
    assert_error(api.delete(f"/api/v1/runs/{run_id}", headers=deleter), 404, "not_found")
    assert api.get(f"/api/v1/status/{run_id}", headers=reader).status_code == 200
    own = api.post("/api/v1/webhook", json=inquiry(), headers=deleter).json()["run_id"]
    assert api.delete(f"/api/v1/runs/{own}", headers=deleter).json() == {"deleted": True, "run_id": own}
    assert_error(api.get(f"/api/v1/status/{own}", headers=reader), 404, "not_found")
    assert api.delete(f"/api/v1/runs/{run_id}", headers=ADMIN).json()["deleted"] is True


def test_a_revoked_clients_key_and_stream_tokens_stop_working(stack, api):
    name = f"revoked-{time.monotonic_ns()}"
    key = {"X-API-Key": stack.manage("api_client", "create", name, quiet=True).stdout.strip()}
    accepted = api.post("/api/v1/webhook", json=inquiry(), headers=key).json()
    stack.manage("api_client", "revoke", name, quiet=True)
    deadline = time.monotonic() + 15  # each process caches a key's client for up to 10 s
    while api.get(f"/api/v1/status/{accepted['run_id']}", headers=key).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still reads"
        time.sleep(0.5)
    assert _close_code(stack, accepted["run_id"], accepted["stream_token"]) == 4401
