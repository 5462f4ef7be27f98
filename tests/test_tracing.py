"""OpenTelemetry traces (core/tracing.py): off without an OTLP endpoint; with one, the web tier
and the worker cluster as real processes export to a real OTLP/HTTP receiver on loopback, and a
webhook request carrying a `traceparent` becomes one connected trace down to the run's end."""

import secrets
import signal
import time
import uuid

import httpx
import pytest

from core import tracing
from testutils.fake_ollama import fake_ollama_process
from testutils.live import LiveStack, kill_worker, live_stack, start_worker
from testutils.otlp_receiver import OtlpReceiver, Span

TERMINAL = ("completed", "escalated", "error")


# --- off by default --------------------------------------------------------------------------


@pytest.mark.parametrize(("environ", "on"), [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
    ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
])
def test_only_an_otlp_endpoint_turns_tracing_on(environ, on):
    assert tracing.configured(environ) is on


def test_without_an_endpoint_nothing_is_created_and_the_api_costs_nothing(monkeypatch):
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider

    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    created = []
    monkeypatch.setattr(OTLPSpanExporter, "__init__", lambda self, *a, **k: created.append(self))
    assert tracing.setup("autoflow-web", django=True) is False
    assert not tracing.enabled()
    assert created == []
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    with tracing.span("run", attributes={"a": 1}) as span, tracing.span_from({"traceparent": "x"}, "n") as child:
        assert span is None
        assert child is None
        tracing.set_attributes(span, b=2)
    assert tracing.current_context() == {}


# --- one trace from the webhook to the run's end ----------------------------------------------


@pytest.fixture(scope="module")
def receiver():
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def stack(receiver, tmp_path_factory):
    with fake_ollama_process(tmp_path_factory.mktemp("fake-ollama")) as ollama, live_stack(
            OLLAMA_BASE_URL=ollama, LLM_BACKEND="ollama", OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_BSP_SCHEDULE_DELAY="200") as live:
        worker = start_worker(live)
        try:
            yield live
        finally:
            kill_worker(worker, signal.SIGTERM)


def wait_terminal(stack: LiveStack, run_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        current = httpx.get(f"{stack.url}/api/v1/status/{run_id}", headers={"X-API-Key": stack.WEBHOOK_KEY},
                            timeout=10).json()
        if current["status"] in TERMINAL:
            return current
        assert time.monotonic() < deadline, f"run {run_id} not terminal after {timeout}s: {current}"
        time.sleep(0.2)


def ancestors(span: Span, by_id: dict[str, Span]) -> list[str]:
    """The span ids above `span`, nearest first, as far as the trace's spans reach."""
    found = []
    while span.parent_span_id and span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        found.append(span.span_id)
    return found


@pytest.mark.services
def test_a_webhook_with_a_traceparent_is_one_trace_down_to_the_runs_end(stack, receiver):
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    response = httpx.post(f"{stack.url}/api/v1/webhook", timeout=10, headers={
        "X-API-Key": stack.WEBHOOK_KEY, "Idempotency-Key": str(uuid.uuid4()),
        "traceparent": f"00-{trace_id}-{caller_span}-01"},
        json={"sender_name": "Dana Lee", "sender_email": "dana@example.com", "subject": "Free trial",
              "body": "Is there a free trial, and do I need a credit card to start it?"})
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    status = wait_terminal(stack, run_id)
    assert status["status"] in ("completed", "escalated")
    nodes = [step["node"] for step in status["agent_steps"]]
    assert nodes

    def complete(spans: list[Span]) -> bool:
        """Every batch in: the run and its nodes, and both tiers' PostgreSQL and Redis spans (the
        last batches, the run's final writes, follow within OTEL_BSP_SCHEDULE_DELAY)."""
        mine = [s for s in spans if s.trace_id == trace_id]
        names = {s.name for s in mine}
        tiers = {(scope, s.service) for s in mine for scope in ("psycopg", "redis") if s.scope.endswith(scope)}
        return ("autoflow.run" in names and all(f"autoflow.node {node}" in names for node in nodes)
                and len(tiers) == 4)

    receiver.wait_for(complete, timeout=60)
    spans = receiver.trace(trace_id)
    by_id = {s.span_id: s for s in spans}

    # The web tier's server span continues the caller's trace: its parent is the caller's span.
    servers = [s for s in spans if s.kind == "server" and s.service == "autoflow-web"]
    assert len(servers) == 1, [(s.name, s.service) for s in servers]
    server = servers[0]
    assert server.parent_span_id == caller_span
    assert "webhook" in server.name or "webhook" in str(server.attributes.get("http.route", "")), server
    # The worker's run span descends from it, across the queue.
    [run] = [s for s in spans if s.name == "autoflow.run"]
    assert run.service == "autoflow-worker"
    assert server.span_id in ancestors(run, by_id)
    assert run.attributes["autoflow.run_id"] == run_id
    assert run.attributes["autoflow.outcome"] == status["status"]
    # One span per node, each a child of the run's.
    node_spans = [s for s in spans if s.name.startswith("autoflow.node ")]
    assert sorted(s.attributes["autoflow.node"] for s in node_spans) == sorted(nodes)
    assert all(s.parent_span_id == run.span_id for s in node_spans)
    # The model calls, each in a node, with the model, the tokens and the outcome.
    models = [s for s in spans if s.name.startswith("autoflow.model ")]
    assert models
    node_ids = {s.span_id for s in node_spans}
    assert all(s.parent_span_id in node_ids for s in models)
    classify = next(s for s in models if s.name == "autoflow.model classify")
    assert classify.attributes["gen_ai.provider.name"] == "ollama"
    assert classify.attributes["gen_ai.request.model"]
    assert classify.attributes["gen_ai.response.model"]
    assert classify.attributes["gen_ai.usage.input_tokens"] > 0
    assert classify.attributes["gen_ai.usage.output_tokens"] > 0
    assert classify.attributes["autoflow.model.outcome"] == "ok"
    # The official instrumentations: the model's HTTP call, PostgreSQL and Redis, on both tiers.
    model_ids = {s.span_id for s in models}
    assert any(s.scope.endswith("httpx") and s.parent_span_id in model_ids for s in spans)
    for scope in ("psycopg", "redis"):
        assert {s.service for s in spans if s.scope.endswith(scope)} == {"autoflow-web", "autoflow-worker"}, scope
    # One trace: every span hangs from the caller's span.
    assert all(s.parent_span_id == caller_span or s.parent_span_id in by_id for s in spans)


@pytest.mark.services
def test_a_webhook_without_a_traceparent_starts_its_own_trace_that_the_run_continues(stack, receiver):
    response = httpx.post(f"{stack.url}/api/v1/webhook", timeout=10, headers={
        "X-API-Key": stack.WEBHOOK_KEY, "Idempotency-Key": str(uuid.uuid4())},
        json={"sender_name": "Sam Roe", "sender_email": "sam@example.com", "subject": "Pricing",
              "body": "How much does the team plan cost per seat?"})
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    wait_terminal(stack, run_id)
    spans = receiver.wait_for(lambda spans: any(s.name == "autoflow.run" and s.attributes.get("autoflow.run_id") == run_id
                                                for s in spans), timeout=30)
    [run] = [s for s in spans if s.name == "autoflow.run" and s.attributes["autoflow.run_id"] == run_id]
    trace = receiver.trace(run.trace_id)
    by_id = {s.span_id: s for s in trace}
    [root] = [s for s in trace if not s.parent_span_id]
    assert root.kind == "server"
    assert root.service == "autoflow-web"
    assert root.span_id in ancestors(run, by_id)
