"""/, /health, /health/live, /health/ready against the test run's real PostgreSQL and Redis."""

import re

import pytest

pytestmark = pytest.mark.django_db

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_health_reports_every_dependency(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] is True
    assert body["redis"] is True
    # The test settings point Ollama at a closed port: the built-in engine takes over.
    assert body["ollama"] is False
    assert body["llm_backend"] == "builtin"
    assert body["rate_limiting"] == "active"
    assert ISO_UTC.match(body["timestamp"])
    assert response["Cache-Control"].startswith("max-age=0")


def test_llm_backend_follows_an_explicit_choice(client, settings):
    settings.LLM_BACKEND = "ollama"
    assert client.get("/health").json()["llm_backend"] == "ollama"
    settings.LLM_BACKEND = "builtin"
    assert client.get("/health").json()["llm_backend"] == "builtin"


def test_liveness_and_readiness(client):
    assert client.get("/health/live").json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": True}


def test_health_rejects_writes(client):
    assert client.post("/health").status_code == 405


def test_root_is_service_discovery_for_api_clients(client):
    for accept in ("*/*", "application/json", None):
        headers = {"HTTP_ACCEPT": accept} if accept else {}
        response = client.get("/", **headers)
        assert response.status_code == 200
        assert response.json() == {"message": "AutoFlow API", "docs": "/api/v1/docs", "health": "/health"}


def test_root_sends_a_browser_to_the_console(client):
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = client.get("/", HTTP_ACCEPT=browser_accept)
    assert response.status_code == 302
    assert response["Location"] == "/console/"


def test_docs_redirect_and_openapi_document(client):
    assert client.get("/docs")["Location"] == "/api/v1/docs"
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "AutoFlow API"


def test_every_response_carries_a_request_id(client):
    generated = client.get("/health/live")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/health/live")["X-Request-ID"] != generated
    assert client.get("/nowhere")["X-Request-ID"]


def test_a_sane_client_request_id_is_echoed(client):
    response = client.get("/health/live", HTTP_X_REQUEST_ID="crm-7f3a:retry.2")
    assert response["X-Request-ID"] == "crm-7f3a:retry.2"


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "<script>", "new\\nline", "-leading-dash", ""])
def test_an_unsafe_client_request_id_is_replaced(client, bad):
    response = client.get("/health/live", HTTP_X_REQUEST_ID=bad)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_a_500_carries_the_request_id(client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("autoflow.views.health_report", explode)
    client.raise_request_exception = False
    response = client.get("/health", HTTP_X_REQUEST_ID="trace-500")
    assert response.status_code == 500
    assert response["X-Request-ID"] == "trace-500"
