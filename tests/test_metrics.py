"""`GET /metrics` on the live web tier (nginx, gunicorn with two workers, daphne), scraped over
HTTP and parsed with prometheus_client's own parser: the domain metrics move with runs that a real
worker cluster finishes (its samples reach the web tier's scrape through the shared
PROMETHEUS_MULTIPROC_DIR), django-prometheus' HTTP and database metrics are there, the state read
at scrape time (queue, escalations, e-mails) is there, and access is limited as
autoflow/metrics.py says. The statement timeout of a scrape's database reads is proven in-process."""

import signal
import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scripts.common import free_port, fresh_metrics_dir
from scripts.web import WebStack
from testutils.inquiries import KEY, sample_inquiry
from testutils.live import kill_worker, live_stack, start_worker, wait_for

pytestmark = pytest.mark.services

TOKEN = "mt_" + "x" * 40
TERMINAL = {"completed", "escalated", "error"}


@pytest.fixture(scope="module")
def live():
    """A stack of this file's own. The session's shared one holds whatever runs the other files
    queued without a worker (the fuzzer's, hundreds): a cluster started here would finish those
    first, and its samples would not be this test's alone."""
    with live_stack() as stack:
        yield stack


def scrape(base: str, *, local_address: str | None = None, token: str | None = None) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    with httpx.Client(base_url=base, transport=transport, timeout=20) as client:
        return client.get("/metrics", headers=headers)


def samples(text: str) -> list:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(found: list, name: str, **labels: str) -> float:
    return sum(s.value for s in found if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def read(live) -> list:
    response = scrape(live.url)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def submit(live, n: int) -> str:
    response = httpx.post(f"{live.url}/api/v1/webhook", json=sample_inquiry(n),
                          headers={**KEY, "Idempotency-Key": str(uuid.uuid4())}, timeout=15)
    assert response.status_code == 200, response.text
    return response.json()["run_id"]


def wait_terminal(live, run_ids: list[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    pending = set(run_ids)
    while pending and time.monotonic() < deadline:
        for run_id in list(pending):
            current = httpx.get(f"{live.url}/api/v1/status/{run_id}", headers=KEY, timeout=10).json()
            if current["status"] in TERMINAL:
                pending.discard(run_id)
        time.sleep(0.3)
    assert not pending, f"runs not terminal after {timeout}s: {pending}"


def test_the_state_read_at_scrape_time_is_there_and_follows_the_queue(live):
    before = read(live)
    for name in ("autoflow_queue_depth", "autoflow_queue_oldest_age_seconds", "autoflow_escalations_open"):
        assert any(s.name == name for s in before), name
    assert {s.labels["status"] for s in before if s.name == "autoflow_emails"} >= {"pending", "sent", "failed"}
    assert {s.labels["status"] for s in before if s.name == "autoflow_webhook_deliveries"} == {
        "pending", "delivering", "delivered", "failed", "dead"}
    assert {s.labels["source"]: s.value for s in before if s.name == "autoflow_metrics_source_up"} == {
        "queue": 1, "workers": 1, "escalations": 1, "emails": 1, "webhook_deliveries": 1}
    # No worker runs on this stack here: what is submitted waits, and the oldest waits a while.
    run_ids = [submit(live, n) for n in range(3)]
    time.sleep(1.1)
    after = read(live)
    assert total(after, "autoflow_queue_depth") >= total(before, "autoflow_queue_depth") + 3
    assert total(after, "autoflow_queue_oldest_age_seconds") >= 1
    # django-prometheus: the requests of this test, by view and method, and the database behind them.
    assert total(after, "django_http_requests_total_by_method_total", method="POST") >= 3
    assert total(after, "django_db_execute_total", vendor="postgresql") > 0
    assert run_ids


def test_runs_finished_by_a_worker_cluster_move_the_counters_and_histograms(live):
    before = read(live)
    waiting = live.sql("SELECT count(*) FROM inquiries_run WHERE finished_at IS NULL")[0][0]  # the file's earlier runs
    run_ids = [submit(live, n) for n in range(10, 14)]
    worker = start_worker(live)
    try:
        wait_terminal(live, run_ids)
        # Read while the cluster still runs: its processes' samples come from the shared folder.
        # A run's counter moves just after its end is committed; every run of the stack is counted.
        deadline = time.monotonic() + 30
        while True:
            during = read(live)
            counted = total(during, "autoflow_runs_finished_total") - total(before, "autoflow_runs_finished_total")
            if counted >= waiting + len(run_ids) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        clusters = {s.labels["cluster"] for s in during if s.name == "autoflow_worker_slots"}
    finally:
        kill_worker(worker, signal.SIGTERM)
    after = read(live)  # and stay once it is gone: counters of ended processes keep counting

    finished = total(after, "autoflow_runs_finished_total") - total(before, "autoflow_runs_finished_total")
    assert finished == waiting + len(run_ids)
    assert total(during, "autoflow_runs_finished_total") == total(after, "autoflow_runs_finished_total")
    labelled = [s for s in after if s.name == "autoflow_runs_finished_total" and s.value]
    assert all(s.labels["status"] in TERMINAL for s in labelled)
    assert {s.labels["backend"] for s in labelled} >= {"builtin"}
    assert {s.labels["family"] for s in labelled} <= {"faq", "sales", "support", "none"}
    assert all(s.labels["band"] in {"high", "medium", "low", "none"} for s in labelled)
    grew = total(after, "autoflow_run_duration_seconds_count") - total(before, "autoflow_run_duration_seconds_count")
    assert grew >= len(run_ids)
    # Per node: every run is classified once; the histogram's +Inf bucket equals its count.
    classify = total(after, "autoflow_node_duration_seconds_count", node="classify_intent") - total(
        before, "autoflow_node_duration_seconds_count", node="classify_intent")
    assert classify >= len(run_ids)
    assert total(after, "autoflow_node_duration_seconds_bucket", node="classify_intent", le="+Inf") == total(
        after, "autoflow_node_duration_seconds_count", node="classify_intent")
    model_calls = total(after, "autoflow_model_call_duration_seconds_count", backend="builtin", outcome="ok")
    assert model_calls - total(before, "autoflow_model_call_duration_seconds_count", backend="builtin",
                               outcome="ok") >= len(run_ids)
    assert clusters, "the running cluster reported its slots"


def test_anonymous_scrapes_come_from_loopback_only_when_nothing_is_configured(live):
    assert scrape(live.url).status_code == 200
    refused = scrape(live.url, local_address="127.0.0.2")  # a client of nginx that is not this machine's own
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert "autoflow_" not in refused.text


@pytest.fixture
def guarded(live, tmp_path):
    """A second web tier on the same stack with METRICS_TOKEN, and TRUSTED_PROXIES naming one
    address (127.0.0.3) that may scrape without it."""
    web = WebStack(env={**live.env, "METRICS_TOKEN": TOKEN, "TRUSTED_PROXIES": "127.0.0.3/32"}, host="127.0.0.1",
                   port=free_port(), run_dir=tmp_path / "web", http_workers=1,
                   quiet=True)
    web.start()
    try:
        wait_for(f"{web.url}/health/live")
        yield web
    finally:
        web.stop()


def test_a_token_or_a_trusted_address_is_required_once_either_is_configured(guarded):
    url = guarded.url
    assert scrape(url).status_code == 403  # loopback alone no longer suffices
    assert scrape(url, token="mt_wrong").status_code == 403
    assert scrape(url, token=TOKEN[:-1]).status_code == 403
    wrong_scheme = httpx.get(f"{url}/metrics", headers={"Authorization": f"Basic {TOKEN}"}, timeout=10)
    assert wrong_scheme.status_code == 403
    ok = scrape(url, token=TOKEN)
    assert ok.status_code == 200
    assert any(s.name == "autoflow_queue_depth" for s in samples(ok.text))
    assert scrape(url, local_address="127.0.0.2", token=TOKEN).status_code == 200
    assert scrape(url, local_address="127.0.0.2").status_code == 403
    assert scrape(url, local_address="127.0.0.3").status_code == 200  # in TRUSTED_PROXIES
    # A forged X-Forwarded-For from an untrusted client buys nothing: nginx replaces it.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10) as client:
        assert client.get(f"{url}/metrics", headers={"X-Forwarded-For": "127.0.0.3"}).status_code == 403


@pytest.mark.django_db
def test_a_slow_database_read_cannot_hang_the_scrape(settings):
    from django.db import connection

    from inquiries.metrics import StateCollector

    def slow():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(10)")
        return []

    settings.METRICS_DB_TIMEOUT_MS = 200
    started = time.monotonic()
    families = list(StateCollector([slow]).collect())
    assert time.monotonic() - started < 3
    (up,) = families
    assert [(s.labels, s.value) for s in up.samples] == [({"source": "slow"}, 0)]
    # The connection is usable afterwards, with the usual statement timeout back.
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] != "200ms"


def test_the_start_scripts_empty_the_metrics_folder_of_an_earlier_start(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_4242.db").write_bytes(b"stale")
    (folder / "notes.txt").write_text("not ours")
    assert fresh_metrics_dir(folder) == folder
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert fresh_metrics_dir(tmp_path / "new" / "metrics").is_dir()


def _value(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_model_calls_count_latency_tokens_failures_by_kind_against_a_real_ollama_wire(settings):
    """In this process (no multiprocess folder): the engine's calls against the fake Ollama server
    (real HTTP), answering and then failing with 500s until the built-in engine answers instead."""
    from orchestration.engines.engine import Engine
    from orchestration.engines.ollama import reset_breakers
    from testutils.fake_ollama import FakeOllama

    settings.OLLAMA_RETRY_INITIAL_SECONDS = 0.01
    settings.OLLAMA_MAX_RETRIES = 1
    settings.OLLAMA_BREAKER_FAILURES = 100
    reset_breakers()
    text = {"sender_name": "Dana", "subject": "Trial", "body": "Is there a free trial?"}
    ok = {"backend": "ollama", "outcome": "ok"}
    failed = {"backend": "ollama", "outcome": "ollama_server_error"}
    before = {"ok": _value("autoflow_model_call_duration_seconds_count", **ok),
              "failed": _value("autoflow_model_call_duration_seconds_count", **failed),
              "prompt": _value("autoflow_model_tokens_total", backend="ollama", kind="prompt"),
              "kind": _value("autoflow_model_call_failures_total", kind="ollama_server_error"),
              "requests": _value("autoflow_ollama_request_failures_total", kind="ollama_server_error")}
    try:
        with FakeOllama() as server:
            settings.OLLAMA_BASE_URL = server.url
            answered = Engine("ollama", budget_seconds=30).classify(**text)
            server.mode = "500"
            fell_back = Engine("ollama", budget_seconds=30).classify(**text)
    finally:
        reset_breakers()
    assert not answered.fallback
    assert fell_back.fallback
    assert _value("autoflow_model_call_duration_seconds_count", **ok) == before["ok"] + 1
    assert _value("autoflow_model_tokens_total", backend="ollama", kind="prompt") == before["prompt"] + 211
    assert _value("autoflow_model_call_duration_seconds_count", **failed) == before["failed"] + 1
    assert _value("autoflow_model_call_failures_total", kind="ollama_server_error") == before["kind"] + 1
    # Each HTTP attempt: the first and its one retry.
    assert _value("autoflow_ollama_request_failures_total", kind="ollama_server_error") == before["requests"] + 2
