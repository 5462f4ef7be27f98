"""LLM_BACKEND=auto picks Ollama only when it answers and has the model pulled."""

import pytest

from orchestration.engines.probe import active_backend, probe_ollama
from testutils.fake_ollama import FakeOllama


@pytest.fixture
def ollama(settings):
    with FakeOllama() as fake:
        settings.OLLAMA_BASE_URL = fake.url
        settings.LLM_MODEL = "llama3"
        settings.LLM_BACKEND = "auto"
        yield fake


def test_reachable_with_the_model_pulled(ollama):
    probe = probe_ollama(use_cache=False)
    assert (probe.reachable, probe.model_available, probe.version) == (True, True, "0.12.6")
    assert probe.model_digest.startswith("sha256:")
    assert active_backend() == "ollama"


def test_reachable_without_the_model_falls_back_to_builtin(ollama):
    ollama.models = ["mistral:latest"]
    probe = probe_ollama(use_cache=False)
    assert (probe.reachable, probe.model_available) == (True, False)
    assert "llama3" in probe.error
    assert active_backend() == "builtin"


def test_an_explicit_tag_must_match_exactly(ollama, settings):
    settings.LLM_MODEL = "llama3:70b"
    assert probe_ollama(use_cache=False).model_available is False
    ollama.models = ["llama3:70b"]
    assert probe_ollama(use_cache=False).model_available is True


def test_unreachable_ollama_means_builtin(settings):
    settings.OLLAMA_BASE_URL = "http://127.0.0.1:9"
    settings.LLM_BACKEND = "auto"
    probe = probe_ollama(use_cache=False)
    assert (probe.reachable, probe.error) == (False, "ConnectError")
    assert active_backend() == "builtin"


def test_answers_are_cached_per_server_and_model(ollama):
    probe_ollama(use_cache=False)
    calls = len(ollama.requests)
    for _ in range(5):
        probe_ollama()
    assert len(ollama.requests) == calls


@pytest.mark.django_db
def test_health_reports_a_ready_ollama(client, ollama):
    probe_ollama(use_cache=False)
    body = client.get("/health").json()
    assert (body["ollama"], body["llm_backend"]) == (True, "ollama")
    assert body["checks"]["ollama"]["version"] == "0.12.6"
