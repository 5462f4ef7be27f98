"""The public contract (docs/api.md), over real HTTP against the running web tier (nginx, gunicorn,
daphne) with keys configured: one test per row and per error case."""

import json
import re
import uuid

import httpx
import pytest

from testutils.inquiries import ADMIN, KEY, assert_error, inquiry
from testutils.live import LiveStack

pytestmark = pytest.mark.services

RUN_STATUS_FIELDS = {
    "run_id", "status", "intent", "intent_confidence", "current_agent", "agent_steps", "final_response",
    "lead_score", "lead_tier", "escalate", "escalation_reason", "escalation_reasons", "created_at", "updated_at",
    "error", "sender_name", "sender_email", "subject", "model_version", "workflow_version", "llm_backend",
    "confidence_band", "language", "language_confidence", "sentiment", "entities", "citations",
}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000a404")  # a run id no test creates


@pytest.fixture
def api(live):
    with httpx.Client(base_url=live.url, timeout=15) as client:
        yield client


def submit(api, body=None, headers=None, **kwargs) -> httpx.Response:
    return api.post("/api/v1/webhook", json=inquiry() if body is None else body, headers={**KEY, **(headers or {})},
                    **kwargs)


# --- POST /api/v1/webhook -------------------------------------------------------------------------

def test_webhook_accepts_and_everything_is_committed(api, live):
    response = submit(api, headers={"X-Request-ID": "crm-req-1"})
    assert response.status_code == 200
    body = response.json()
    run_id = body["run_id"]
    assert body == {"run_id": run_id, "status": "running", "message": body["message"],
                    "poll_url": f"/api/v1/status/{run_id}", "idempotent_replay": False,
                    "stream_token": body["stream_token"], "ws_url": f"/api/v1/ws/{run_id}?token={body['stream_token']}"}
    assert uuid.UUID(run_id).version == 4
    assert response.headers["x-request-id"] == "crm-req-1"
    assert int(response.headers["ratelimit-limit"]) == 100000
    assert int(response.headers["ratelimit-remaining"]) < 100000
    # Committed before the answer: the run, its inquiry, its first events and its queued task.
    [(status, agent, subject, metadata)] = live.sql(
        "SELECT r.status, r.current_agent, i.subject, i.metadata FROM inquiries_run r "
        "JOIN inquiries_inquiry i ON i.id = r.inquiry_id WHERE r.id = %s", [run_id])
    assert (status, agent, subject) == ("running", "queued", "Pricing for 40 seats")
    assert metadata == {"crm_id": "0031x00000ABC", "form": "contact"}
    events = live.sql("SELECT type, actor_label, request_id FROM inquiries_runevent WHERE run_id = %s "
                      "ORDER BY created_at, id", [run_id])
    assert events == [("received", "api:bootstrap-key", "crm-req-1"), ("queued", "system", "crm-req-1")]
    [(task_id,)] = live.sql("SELECT q_task_id FROM inquiries_run WHERE id = %s", [run_id])
    assert task_id
    assert live.sql("SELECT count(*) FROM django_q_ormq")[0][0] >= 1
    # ...and the Redis snapshot was written after commit.
    assert json.loads(live.redis_client().get(f"autoflow:run:{run_id}"))["run_id"] == run_id


def test_unknown_fields_are_ignored(api):
    response = submit(api, body=inquiry(priority="urgent", extra={"x": 1}))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sender_name", ""), ("sender_name", "x" * 201), ("sender_email", "not-an-address"),
        ("subject", ""), ("subject", "s" * 501), ("body", ""), ("body", "b" * 5001),
        ("metadata", "a string"), ("metadata", {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}),
        ("metadata", {"blob": "x" * 9000}),
    ],
)
def test_invalid_fields_are_422_validation_error(api, field, value):
    body = assert_error(submit(api, body=inquiry(**{field: value})), 422, "validation_error")
    assert any(detail["loc"][:2] == ["body", field] for detail in body["details"]), body


def test_missing_fields_are_named(api):
    body = assert_error(submit(api, body={"subject": "hi"}), 422, "validation_error")
    missing = {detail["loc"][1] for detail in body["details"] if detail["type"] == "missing"}
    assert missing == {"sender_name", "sender_email", "body"}


def test_non_json_content_type_is_415(api):
    response = api.post("/api/v1/webhook", content=b"sender_name=Ada", headers={**KEY, "Content-Type":
                        "application/x-www-form-urlencoded"})
    assert_error(response, 415, "unsupported_media_type")


def test_malformed_json_is_422_invalid_json(api):
    response = api.post("/api/v1/webhook", content=b'{"sender_name": "Ada",', headers={
        **KEY, "Content-Type": "application/json"})
    assert_error(response, 422, "invalid_json")
    response = api.post("/api/v1/webhook", content=b"[1, 2]", headers={**KEY, "Content-Type": "application/json"})
    assert_error(response, 422, "validation_error")


def test_body_over_the_configured_cap_is_413(api, live):
    before = live.sql("SELECT count(*) FROM inquiries_run")[0][0]
    response = submit(api, body=inquiry(body="x" * 70_000))
    assert_error(response, 413, "payload_too_large")
    # Far over even the proxy's backstop: nginx answers, with the same envelope.
    response = api.post("/api/v1/webhook", content=b"x" * (2 << 20), headers={**KEY, "Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    assert live.sql("SELECT count(*) FROM inquiries_run")[0][0] == before


# --- Authentication ------------------------------------------------------------------------------

def test_webhook_requires_the_key(api, live):
    before = live.sql("SELECT count(*) FROM inquiries_run")[0][0]
    assert_error(api.post("/api/v1/webhook", json=inquiry()), 401, "unauthorized")
    assert_error(api.post("/api/v1/webhook", json=inquiry(), headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    assert_error(api.post("/api/v1/webhook", json=inquiry(), headers=ADMIN), 401, "unauthorized")
    assert live.sql("SELECT count(*) FROM inquiries_run")[0][0] == before


def test_api_clients_from_admin_authenticate_until_revoked(api, live):
    import hashlib

    raw = "af_" + uuid.uuid4().hex
    live.sql("INSERT INTO inquiries_apiclient (name, key_prefix, key_hash, is_active, rate_limit, notes, "
             "created_at, updated_at) VALUES (%s, %s, %s, true, '', '', now(), now())",
             [f"crm-{raw[-6:]}", raw[:10], hashlib.sha256(raw.encode()).hexdigest()])
    response = api.post("/api/v1/webhook", json=inquiry(), headers={"X-API-Key": raw})
    assert response.status_code == 200
    run_id = response.json()["run_id"]
    assert live.sql("SELECT actor_label FROM inquiries_runevent WHERE run_id = %s AND type = 'received'",
                    [run_id]) == [(f"api:crm-{raw[-6:]}",)]
    assert api.get(f"/api/v1/status/{run_id}", headers={"X-API-Key": raw}).status_code == 200


# Fixed ids (no such run): the same test ids in every test process.
@pytest.mark.parametrize("path", ["/api/v1/runs", f"/api/v1/status/{UNKNOWN}",
                                  f"/api/v1/status/{UNKNOWN}/steps", f"/api/v1/runs/{UNKNOWN}"])
def test_reads_require_the_key(api, path):
    assert_error(api.get(path), 401, "unauthorized")
    assert_error(api.get(path, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    assert api.get(path, headers=KEY).status_code in (200, 404)


# --- Idempotency ---------------------------------------------------------------------------------

def test_same_key_same_body_replays_the_same_run(api, live):
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = submit(api, headers=key)
    second = submit(api, headers=key)
    assert first.status_code == second.status_code == 200
    assert second.json()["run_id"] == first.json()["run_id"]
    assert second.json()["idempotent_replay"] is True
    assert second.headers["idempotent-replayed"] == "true"
    assert live.sql("SELECT count(*) FROM inquiries_idempotencyrecord WHERE key = %s",
                    [key["Idempotency-Key"]]) == [(1,)]


def test_replay_reports_the_current_status_from_postgres_when_redis_forgot(api, live):
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    run_id = submit(api, headers=key).json()["run_id"]
    live.sql("UPDATE inquiries_run SET status = 'completed', finished_at = now() WHERE id = %s", [run_id])
    live.redis_client().flushdb()
    replay = submit(api, headers=key)
    assert replay.json()["run_id"] == run_id
    assert replay.json()["status"] == "completed"
    assert replay.json()["idempotent_replay"] is True


def test_same_key_other_body_is_422_idempotency_key_reused(api, live):
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    submit(api, headers=key)
    body = assert_error(submit(api, body=inquiry(subject="Another question"), headers=key), 422,
                        "idempotency_key_reused")
    assert "different" in body["message"]
    assert live.sql("SELECT count(*) FROM inquiries_idempotencyrecord WHERE key = %s",
                    [key["Idempotency-Key"]]) == [(1,)]


@pytest.mark.parametrize("bad", ["k" * 256, "tab\tinside", "ünïcode"])
def test_malformed_idempotency_key_is_422(api, bad):
    response = api.post("/api/v1/webhook", json=inquiry(), headers={**KEY, "Idempotency-Key": bad.encode("utf-8")})
    assert_error(response, 422, "validation_error")


def test_keys_are_scoped_to_the_caller(api, live):
    import hashlib

    raw = "af_" + uuid.uuid4().hex
    live.sql("INSERT INTO inquiries_apiclient (name, key_prefix, key_hash, is_active, rate_limit, notes, "
             "created_at, updated_at) VALUES (%s, %s, %s, true, '', '', now(), now())",
             [f"other-{raw[-6:]}", raw[:10], hashlib.sha256(raw.encode()).hexdigest()])
    key = f"shared-{uuid.uuid4()}"
    mine = submit(api, headers={"Idempotency-Key": key}).json()["run_id"]
    theirs = api.post("/api/v1/webhook", json=inquiry(), headers={"X-API-Key": raw, "Idempotency-Key": key})
    assert theirs.status_code == 200
    assert theirs.json()["run_id"] != mine
    assert theirs.json()["idempotent_replay"] is False


# --- Status, steps, runs ------------------------------------------------------------------------

def test_status_is_identical_from_redis_and_from_postgres_and_stable(api, live):
    run_id = submit(api).json()["run_id"]
    from_redis = api.get(f"/api/v1/status/{run_id}", headers=KEY).json()
    assert set(from_redis) == RUN_STATUS_FIELDS
    assert ISO_Z.match(from_redis["created_at"])
    assert ISO_Z.match(from_redis["updated_at"])
    live.redis_client().delete(f"autoflow:run:{run_id}", f"autoflow:steps:{run_id}")
    from_postgres = api.get(f"/api/v1/status/{run_id}", headers=KEY).json()
    assert from_postgres == from_redis
    assert api.get(f"/api/v1/status/{run_id}", headers=KEY).json() == from_redis
    assert api.get(f"/api/v1/runs/{run_id}", headers=KEY).json() == from_redis


def _add_step(live, run_id: str, sequence: int, node: str) -> None:
    live.sql("INSERT INTO inquiries_runstep (run_id, sequence, key, node, agent, action, output, inputs, outputs, "
             "llm_backend, model, duration_ms, attempt, error, started_at, finished_at) VALUES "
             "(%s, %s, %s, %s, %s, 'ran', 'done', '{}', '{}', 'builtin', '', 5, 1, '', now(), now())",
             [run_id, sequence, node, node, node])


def test_steps_oldest_first_and_404_for_unknown_runs(api, live):
    run_id = submit(api).json()["run_id"]
    assert api.get(f"/api/v1/status/{run_id}/steps", headers=KEY).json() == []
    _add_step(live, run_id, 2, "faq_node")
    _add_step(live, run_id, 1, "classify_intent")
    live.redis_client().delete(f"autoflow:run:{run_id}", f"autoflow:steps:{run_id}")
    steps = api.get(f"/api/v1/status/{run_id}/steps", headers=KEY).json()
    assert [(s["sequence"], s["node"]) for s in steps] == [(1, "classify_intent"), (2, "faq_node")]
    assert {"agent", "action", "output", "timestamp", "node", "duration_ms", "model", "sequence"} <= set(steps[0])
    # The status re-read from PostgreSQL refilled Redis, so the next read of steps is from Redis.
    api.get(f"/api/v1/status/{run_id}", headers=KEY)
    assert live.redis_client().llen(f"autoflow:steps:{run_id}") == 2
    unknown = uuid.uuid4()
    assert_error(api.get(f"/api/v1/status/{unknown}/steps", headers=KEY), 404, "not_found")
    assert_error(api.get(f"/api/v1/status/{unknown}", headers=KEY), 404, "not_found")
    assert_error(api.get(f"/api/v1/runs/{unknown}", headers=KEY), 404, "not_found")
    assert_error(api.get("/api/v1/status/not-a-uuid", headers=KEY), 422, "validation_error")


def test_runs_list_filters_paginates_and_counts(api, live):
    marker = uuid.uuid4().hex[:10]
    ids = [submit(api, body=inquiry(subject=f"{marker} number {n}")).json()["run_id"] for n in range(5)]
    live.sql("UPDATE inquiries_run SET status = 'completed', finished_at = now(), intent = 'pricing' "
             "WHERE id = %s", [ids[0]])
    page = api.get("/api/v1/runs", params={"q": marker, "limit": 2}, headers=KEY)
    assert page.status_code == 200
    assert page.headers["x-total-count"] == "5"
    assert [item["run_id"] for item in page.json()] == [ids[4], ids[3]]  # newest first
    assert set(page.json()[0]) >= {"run_id", "status", "intent", "sender_name", "sender_email", "subject",
                                   "created_at"}
    rest = api.get("/api/v1/runs", params={"q": marker, "limit": 2, "offset": 4}, headers=KEY)
    assert [item["run_id"] for item in rest.json()] == [ids[0]]
    done = api.get("/api/v1/runs", params={"q": marker, "status": "completed", "intent": "pricing"}, headers=KEY)
    assert [item["run_id"] for item in done.json()] == [ids[0]]
    assert done.headers["x-total-count"] == "1"
    assert_error(api.get("/api/v1/runs", params={"status": "finished"}, headers=KEY), 422, "validation_error")
    assert_error(api.get("/api/v1/runs", params={"limit": 1000}, headers=KEY), 422, "validation_error")


# --- DELETE -----------------------------------------------------------------------------------------

def test_delete_needs_the_admin_key_and_removes_everything(api, live):
    key = f"del-{uuid.uuid4()}"
    run_id = submit(api, headers={"Idempotency-Key": key}).json()["run_id"]
    _add_step(live, run_id, 1, "classify_intent")
    api.get(f"/api/v1/status/{run_id}", headers=KEY)  # warm the Redis keys

    assert_error(api.delete(f"/api/v1/runs/{run_id}"), 401, "unauthorized")
    assert_error(api.delete(f"/api/v1/runs/{run_id}", headers=KEY), 403, "forbidden")  # no delete scope
    assert live.sql("SELECT count(*) FROM inquiries_run WHERE id = %s", [run_id]) == [(1,)]

    response = api.delete(f"/api/v1/runs/{run_id}", headers=ADMIN)
    assert response.status_code == 200
    assert response.json() == {"deleted": True, "run_id": run_id}
    for table in ("inquiries_run", "inquiries_runstep", "inquiries_runevent", "inquiries_idempotencyrecord"):
        column = "id" if table == "inquiries_run" else "run_id"
        assert live.sql(f"SELECT count(*) FROM {table} WHERE {column} = %s", [run_id]) == [(0,)], table
    assert live.sql("SELECT count(*) FROM inquiries_inquiry i WHERE NOT EXISTS "
                    "(SELECT 1 FROM inquiries_run r WHERE r.inquiry_id = i.id)") == [(0,)]
    assert live.redis_client().keys(f"*{run_id}*") == []
    assert_error(api.get(f"/api/v1/status/{run_id}", headers=KEY), 404, "not_found")
    assert api.delete(f"/api/v1/runs/{run_id}", headers=ADMIN).json() == {"deleted": False, "run_id": run_id}
    # The key is free again once its run is gone.
    again = submit(api, headers={"Idempotency-Key": key})
    assert again.json()["idempotent_replay"] is False


# --- Cross-cutting ------------------------------------------------------------------------------------

def test_root_health_and_docs(api):
    assert api.get("/").json() == {"message": "AutoFlow API", "docs": "/api/v1/docs", "health": "/health"}
    health = api.get("/health").json()
    assert (health["status"], health["database"], health["redis"]) == ("ok", True, True)
    assert api.get("/docs").headers["location"] == "/api/v1/docs"
    assert api.get("/api/v1/docs").status_code == 200


def test_openapi_documents_security_and_errors(api):
    spec = api.get("/api/v1/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"}.items() <= schemes["IntakeGate"].items()
    assert schemes["AdminKey"]["name"] == "X-Admin-Key"
    webhook = spec["paths"]["/api/v1/webhook"]["post"]
    assert webhook["security"] == [{"IntakeGate": []}]
    assert {"200", "401", "409", "413", "415", "422", "429", "503"} <= set(webhook["responses"])
    assert spec["paths"]["/api/v1/runs/{run_id}"]["delete"]["security"] == [{"AdminKey": []}, {"DeleteKey": []}]
    reads = spec["paths"]["/api/v1/status/{run_id}"]["get"]
    assert {"ReadKey": []} in reads["security"]
    assert {"404", "401"} <= set(reads["responses"])


@pytest.mark.parametrize("path", ["/", "/health", "/api/v1/runs", "/nowhere", "/api/v1/nowhere"])
def test_every_response_has_a_request_id(api, path):
    response = api.get(path, headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert api.get(path, headers={"X-Request-ID": "ok-id.1"}).headers["x-request-id"] == "ok-id.1"


def test_unknown_paths_get_the_envelope(api):
    assert_error(api.get("/api/v1/nowhere"), 404, "not_found")


def test_cors_allowlist(api):
    allowed = api.options("/api/v1/webhook", headers={
        "Origin": LiveStack.ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key,idempotency-key,traceparent"})
    assert allowed.headers["access-control-allow-origin"] == LiveStack.ORIGIN
    allowed_headers = allowed.headers["access-control-allow-headers"].lower()
    assert "x-api-key" in allowed_headers
    assert "traceparent" in allowed_headers
    refused = api.options("/api/v1/webhook", headers={"Origin": "https://evil.example",
                                                      "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in refused.headers
    exposed = submit(api, headers={"Origin": LiveStack.ORIGIN})
    assert "x-request-id" in exposed.headers["access-control-expose-headers"].lower()


def test_nul_bytes_are_refused_in_text_and_neutralised_in_json(api, live):
    # Found by the schemathesis fuzz: PostgreSQL cannot store U+0000 in text or JSONB.
    assert_error(api.get("/api/v1/runs", params={"q": "a\x00b"}, headers=KEY), 422, "validation_error")
    assert_error(submit(api, body=inquiry(subject="a\x00b")), 422, "validation_error")
    assert_error(submit(api, body=inquiry(subject="   ")), 422, "validation_error")
    accepted = submit(api, body=inquiry(metadata={"note": "a\x00b"}, extra="c\x00d"))
    assert accepted.status_code == 200
    [(metadata, raw)] = live.sql("SELECT i.metadata, i.raw_payload FROM inquiries_inquiry i JOIN inquiries_run r "
                                 "ON r.inquiry_id = i.id WHERE r.id = %s", [accepted.json()["run_id"]])
    assert metadata == {"note": "a\ufffdb"}
    assert raw["extra"] == "c\ufffdd"


def test_special_use_domains_are_accepted(api):
    assert submit(api, body=inquiry(sender_email="it@printer.local")).status_code == 200
