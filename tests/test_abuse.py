"""Abuse at the edge (OWASP API4, docs/reliability.md), over real HTTP through nginx, gunicorn
and daphne: every hostile request gets a clear error in the envelope, stores nothing, and leaves
the server answering everybody else with bounded memory."""

import hashlib
import json
import socket
import time
import uuid
from urllib.parse import urlparse

import httpx
import pytest

from testutils.inquiries import KEY, assert_error, inquiry
from testutils.memory import tree_rss_mb

pytestmark = pytest.mark.services


@pytest.fixture
def api(live):
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def _count_runs(live) -> int:
    return live.sql("SELECT count(*) FROM inquiries_run")[0][0]


def test_a_ten_megabyte_body_is_refused_by_the_proxy_before_the_app_reads_it(api, live):
    before = _count_runs(live)
    response = api.post("/api/v1/webhook", content=b'{"body": "' + b"x" * 10_000_000 + b'"}',
                        headers={**KEY, "Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    assert _count_runs(live) == before


@pytest.mark.parametrize("depth", [50, 30_000])
def test_deeply_nested_json_is_a_clear_422(api, live, depth):
    before = _count_runs(live)
    nested = "[" * depth + "]" * depth
    if depth == 50:  # valid JSON, but metadata deeper than the schema allows
        body = json.dumps(inquiry(metadata={"a": json.loads(nested)}))
        assert_error(api.post("/api/v1/webhook", content=body, headers={**KEY, "Content-Type": "application/json"}),
                     422, "validation_error")
    else:  # 60 kB of brackets: more nesting than any parser should follow
        body = '{"metadata": {"a": ' + nested + "}}"
        error = assert_error(api.post("/api/v1/webhook", content=body,
                                      headers={**KEY, "Content-Type": "application/json"}), 422, "invalid_json")
        assert "nested" in error["message"]
    assert _count_runs(live) == before


def test_invalid_utf8_is_a_clear_422(api, live):
    before = _count_runs(live)
    body = b'{"sender_name": "A\xff\xfe", "sender_email": "a@example.com", "subject": "S", "body": "B"}'
    assert_error(api.post("/api/v1/webhook", content=body, headers={**KEY, "Content-Type": "application/json"}),
                 422, "invalid_json")
    assert _count_runs(live) == before


@pytest.mark.parametrize("size", [20_000, 70_000])
def test_huge_headers_are_refused_by_the_proxy_with_the_envelope(api, size):
    response = api.post("/api/v1/webhook", json=inquiry(), headers={**KEY, "X-Padding": "p" * size})
    assert_error(response, 400, "bad_request")
    assert api.get("/health/live").status_code == 200


def _slow_client(url: str, path: str) -> socket.socket:
    """Sends the headers and the first bytes of a body it promises to be 1,000 bytes long, then stalls."""
    parsed = urlparse(url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=30)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nX-API-Key: {KEY['X-API-Key']}\r\n"
                 "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"sender_name\": ".encode())
    return sock


def test_slow_clients_do_not_hold_the_app_and_are_cut_off(api, live):
    """nginx buffers request bodies: 40 stalled uploads occupy no app worker (there are only two),
    everybody else is served at once, and nginx drops the stalled ones after client_body_timeout."""
    before = _count_runs(live)
    slow = [_slow_client(live.url, "/api/v1/webhook") for _ in range(40)]
    try:
        started = time.monotonic()
        for _ in range(10):
            assert api.get("/health/live").status_code == 200
            assert api.post("/api/v1/webhook", json=inquiry(), headers={**KEY,
                            "Idempotency-Key": str(uuid.uuid4())}).status_code == 200
        assert time.monotonic() - started < 10
        deadline = time.monotonic() + 25
        for sock in slow:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            answer = sock.recv(4096)  # nginx's 408, or the connection closed
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]
    finally:
        for sock in slow:
            sock.close()
    assert _count_runs(live) == before + 10


def test_a_flood_of_distinct_idempotency_keys_is_rate_limited_and_stores_nothing_extra(api, live):
    raw = "af_" + uuid.uuid4().hex
    live.sql("INSERT INTO inquiries_apiclient (name, key_prefix, key_hash, is_active, rate_limit, notes, "
             "created_at, updated_at) VALUES (%s, %s, %s, true, '20/m', '', now(), now())",
             [f"flood-{raw[-6:]}", raw[:10], hashlib.sha256(raw.encode()).hexdigest()])
    redis = live.redis_client()
    keys_before = redis.dbsize()
    runs_before = _count_runs(live)
    answers = [api.post("/api/v1/webhook", json=inquiry(), headers={"X-API-Key": raw, "Idempotency-Key":
                        f"flood-{n}-{uuid.uuid4()}"}) for n in range(120)]
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 20
    assert statuses.count(429) == 100
    refused = answers[-1]
    assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) > 0
    # Refused requests leave nothing behind: no run, no idempotency claim, no per-key Redis entry.
    assert _count_runs(live) == runs_before + 20
    assert live.sql("SELECT count(*) FROM inquiries_idempotencyrecord WHERE key LIKE 'flood-%%'") == [(20,)]
    per_run = 3  # each accepted run's snapshot, steps and events keys, all with a TTL
    assert redis.dbsize() - keys_before <= 20 * per_run + 5
    assert all(redis.ttl(key) > 0 for key in redis.scan_iter("autoflow:run:*"))


def test_web_processes_keep_bounded_memory_under_a_flood_of_distinct_keys(api, live):
    """3,000 distinct keys (1,500 accepted, 1,500 refused as malformed): the web workers' memory
    grows by a bounded amount, not with the number of keys."""
    gunicorn = [live.web.processes["gunicorn"].pid]
    for n in range(200):  # warm-up: every worker has imported and served everything once
        api.post("/api/v1/webhook", json=inquiry(), headers={**KEY, "Idempotency-Key": f"warm-{n}-{uuid.uuid4()}"})
    before = tree_rss_mb(gunicorn)
    statuses = [api.post("/api/v1/webhook", json=inquiry(), headers={
        **KEY, "Idempotency-Key": f"many-{n}-{uuid.uuid4()}"}).status_code for n in range(1500)]
    statuses += [api.post("/api/v1/webhook", content=b"{", headers={
        **KEY, "Content-Type": "application/json", "Idempotency-Key": f"bad-{n}-{uuid.uuid4()}"}).status_code
        for n in range(1500)]
    after = tree_rss_mb(gunicorn)
    assert (statuses.count(200), statuses.count(422)) == (1500, 1500)
    assert after - before < 40, (before, after)
