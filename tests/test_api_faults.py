"""Accepted means durable (docs/workflow.md, "Durability"), proven with real processes: concurrent
duplicates make one run; with Redis stopped intake still answers 200 and reads fall back to
PostgreSQL; with PostgreSQL stopped intake answers 503 + Retry-After, and every run_id ever
answered 200 exists afterwards."""

import concurrent.futures
import uuid

import httpx
import pytest

from testutils.inquiries import KEY, inquiry
from testutils.live import live_stack, wait_for

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def stack():
    """Its own stack: these tests stop its PostgreSQL and Redis."""
    with live_stack() as live:
        yield live


def _post(url: str, headers: dict, body: dict | None = None) -> httpx.Response:
    with httpx.Client(timeout=30) as client:
        return client.post(f"{url}/api/v1/webhook", json=body or inquiry(), headers={**KEY, **headers})


def test_fifty_concurrent_duplicates_make_exactly_one_run(stack):
    key = f"storm-{uuid.uuid4()}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: _post(stack.url, {"Idempotency-Key": key}), range(50)))
    assert [a.status_code for a in answers] == [200] * 50
    run_ids = {a.json()["run_id"] for a in answers}
    assert len(run_ids) == 1
    assert sum(not a.json()["idempotent_replay"] for a in answers) == 1
    [run_id] = run_ids
    assert stack.sql("SELECT count(*) FROM inquiries_idempotencyrecord WHERE key = %s", [key]) == [(1,)]
    assert stack.sql("SELECT count(*) FROM inquiries_run r JOIN inquiries_idempotencyrecord k ON k.run_id = r.id "
                     "WHERE k.key = %s", [key]) == [(1,)]
    assert stack.sql("SELECT count(*) FROM inquiries_runevent WHERE run_id = %s AND type = 'received'",
                     [run_id]) == [(1,)]


def test_redis_down_intake_still_answers_and_reads_fall_back_to_postgres(stack):
    before = _post(stack.url, {}).json()["run_id"]
    stack.redis.stop()
    try:
        accepted = [_post(stack.url, {"Idempotency-Key": f"nored-{n}"}) for n in range(5)]
        assert [a.status_code for a in accepted] == [200] * 5
        replay = _post(stack.url, {"Idempotency-Key": "nored-0"})
        assert replay.json()["run_id"] == accepted[0].json()["run_id"]  # the claim is in PostgreSQL
        with httpx.Client(base_url=stack.url, timeout=10, headers=KEY) as client:
            for run_id in [before, *(a.json()["run_id"] for a in accepted)]:
                status = client.get(f"/api/v1/status/{run_id}")
                assert status.status_code == 200
                assert status.json()["run_id"] == run_id
            assert client.get(f"/api/v1/status/{before}/steps").json() == []
            health = client.get("/health").json()
            assert (health["status"], health["redis"], health["rate_limiting"]) == ("degraded", False, "fail_open")
    finally:
        stack.redis.start()
    wait_for(f"{stack.url}/health", ok=lambda r: r.json()["redis"] is True, timeout=20)


def test_postgres_down_answers_503_and_loses_nothing(stack):
    answered: list[str] = []
    for n in range(5):
        response = _post(stack.url, {"Idempotency-Key": f"pg-before-{n}"})
        assert response.status_code == 200
        answered.append(response.json()["run_id"])
    stack.pg.stop()
    try:
        for n in range(5):
            response = _post(stack.url, {"Idempotency-Key": f"pg-down-{n}"})
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            body = response.json()
            assert body["error"] == "service_unavailable"
            assert body["request_id"] == response.headers["x-request-id"]
        ready = httpx.get(f"{stack.url}/health/ready", timeout=10)
        assert ready.status_code == 503
    finally:
        stack.pg.start()
    wait_for(f"{stack.url}/health/ready", timeout=30)
    for n in range(5):
        response = _post(stack.url, {"Idempotency-Key": f"pg-after-{n}"})
        assert response.status_code == 200
        answered.append(response.json()["run_id"])
    # The retried requests of the outage are new runs now; nothing answered 200 was lost.
    stored = {row[0] for row in stack.sql("SELECT id::text FROM inquiries_run")}
    assert set(answered) <= stored
    assert stack.sql("SELECT count(*) FROM inquiries_idempotencyrecord WHERE key LIKE 'pg-down-%%'") == [(0,)]


def test_with_the_app_down_nginx_answers_503_with_the_envelope(stack):
    """Last in this module: it kills the stack's HTTP workers."""
    import os
    import signal

    os.killpg(stack.web.processes["gunicorn"].pid, signal.SIGKILL)
    for response in (httpx.get(f"{stack.url}/health", timeout=10), _post(stack.url, {})):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert body["error"] == "service_unavailable"
        assert body["request_id"] == response.headers["x-request-id"]
