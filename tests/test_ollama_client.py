"""The Ollama client against the fake Ollama server (real HTTP, Ollama's wire format): the
request it sends, and each fault a real Ollama server shows mapped to the right outcome."""

import time

import pytest

from orchestration.engines.ollama import (
    OllamaBadRequest,
    OllamaCircuitOpen,
    OllamaClient,
    OllamaModelNotFound,
    OllamaTimeout,
    json_schema,
    reset_breakers,
)
from orchestration.engines.types import Classification, LLMUnavailable, StructuredOutputError
from testutils.fake_ollama import FakeOllama
from testutils.live import CLOSED_PORT_URL


@pytest.fixture
def fake(settings):
    settings.OLLAMA_RETRY_INITIAL_SECONDS = 0.01
    settings.OLLAMA_MAX_RETRIES = 2
    settings.OLLAMA_BREAKER_FAILURES = 3
    settings.OLLAMA_FIRST_BYTE_TIMEOUT = 5
    reset_breakers()
    with FakeOllama() as server:
        settings.OLLAMA_BASE_URL = server.url
        yield server
    reset_breakers()


def classify(timeout: float | None = None):
    return OllamaClient().structured(system="classify", user="<inquiry>hi</inquiry>", model_cls=Classification,
                                     timeout=timeout)


def test_a_structured_call_sends_what_the_notes_require_and_validates_the_answer(fake, settings):
    value, result = classify()

    assert value.intent == "faq"
    assert value.confidence == 0.93
    assert result.prompt_tokens == 211
    assert result.completion_tokens == 37
    assert result.done_reason == "stop"
    body = fake.chat_bodies[0]
    assert body["stream"] is True
    assert body["think"] is False
    assert body["options"]["temperature"] == 0
    assert body["options"]["num_ctx"] == settings.OLLAMA_NUM_CTX
    assert body["options"]["num_predict"] == settings.OLLAMA_NUM_PREDICT
    assert body["keep_alive"] == settings.OLLAMA_KEEP_ALIVE
    assert body["format"] == json_schema(Classification)
    assert body["format"]["properties"]["intent"]["enum"][0] == "general_inquiry"
    assert "$ref" not in str(body["format"])
    assert "anyOf" not in str(body["format"])


@pytest.mark.parametrize("fault", ["503", "500", "done_false", "length", "error_line", "reset", "empty_stream"])
def test_transient_faults_are_retried(fake, fault):
    fake.faults = ["done_false" if fault == "empty_stream" else fault]

    value, result = classify()

    assert value.intent == "faq"
    assert result.attempts == 2
    assert fake.chat_count == 2


@pytest.mark.parametrize(("fault", "error"), [("404", OllamaModelNotFound), ("400", OllamaBadRequest)])
def test_client_errors_are_never_retried(fake, fault, error):
    fake.mode = fault

    with pytest.raises(error):
        classify()

    assert fake.chat_count == 1


def test_a_server_that_keeps_failing_is_unavailable_after_bounded_retries(fake, settings):
    fake.mode = "500"

    with pytest.raises(LLMUnavailable):
        classify()

    assert fake.chat_count == settings.OLLAMA_MAX_RETRIES + 1


@pytest.mark.parametrize("fault", ["fenced"])
def test_a_fenced_answer_is_accepted(fake, fault):
    fake.mode = fault

    value, _ = classify()

    assert value.intent == "faq"
    assert fake.chat_count == 1


@pytest.mark.parametrize("fault", ["invalid_json", "wrong_enum", "empty"])
def test_one_invalid_answer_is_repaired(fake, fault):
    fake.faults = [fault]

    value, _ = classify()

    assert value.intent == "faq"
    assert fake.chat_count == 2
    repair = fake.chat_bodies[1]["messages"]
    assert repair[-2]["role"] == "assistant"
    assert repair[-1]["content"].startswith("Your previous output was invalid")


@pytest.mark.parametrize("fault", ["invalid_json", "wrong_enum"])
def test_an_answer_still_invalid_after_one_repair_is_a_typed_failure(fake, fault):
    fake.mode = fault

    with pytest.raises(StructuredOutputError) as caught:
        classify()

    assert caught.value.code == "model_output_invalid"
    assert fake.chat_count == 2


def test_a_slow_first_byte_is_cut_by_the_deadline(fake, settings):
    settings.OLLAMA_MAX_RETRIES = 0
    fake.mode, fake.delay = "slow", 3

    started = time.monotonic()
    with pytest.raises(OllamaTimeout):
        classify(timeout=0.5)

    assert time.monotonic() - started < 2


def test_a_dead_ollama_trips_the_breaker_and_then_costs_nothing(settings):
    settings.OLLAMA_BASE_URL = CLOSED_PORT_URL
    settings.OLLAMA_RETRY_INITIAL_SECONDS = 0.01
    settings.OLLAMA_BREAKER_FAILURES = 3
    reset_breakers()

    with pytest.raises(LLMUnavailable):
        classify()  # refused three times: the third failure opens the breaker
    started = time.monotonic()
    with pytest.raises(OllamaCircuitOpen):
        classify()
    assert time.monotonic() - started < 0.05
    reset_breakers()


def test_warm_up_loads_the_model(fake):
    assert OllamaClient().warm_up() is True
    assert fake.chat_bodies[0]["messages"] == []
