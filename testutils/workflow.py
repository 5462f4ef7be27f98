"""Helpers for workflow tests: accept an inquiry through the real intake service, then execute
its queued task the way a worker does (in this process, on the real PostgreSQL and Redis)."""

import contextlib
import uuid

from inquiries import services
from inquiries.demo_data import KNOWLEDGE_BASE
from inquiries.models import KnowledgeArticle, Run


def load_knowledge_base() -> None:
    for article in KNOWLEDGE_BASE:
        KnowledgeArticle.objects.get_or_create(slug=article["slug"], defaults=article)


def accept(*, subject: str, body: str, sender_name: str = "Dana Lee", sender_email: str = "dana@example.com",
           key: str | None = None) -> Run:
    data = {"sender_name": sender_name, "sender_email": sender_email, "subject": subject, "body": body}
    acceptance = services.inquiry_accept(
        data=data, raw_payload=data, caller=services.Caller(identity="tests", label="tests", ip="127.0.0.1"),
        idempotency_key=key or str(uuid.uuid4()), fingerprint=str(uuid.uuid4()),
    )
    return Run.objects.get(pk=acceptance.run_id)


def execute(run: Run) -> str:
    from orchestration.tasks import run_execute

    result = run_execute(str(run.pk))
    run.refresh_from_db()
    return result


@contextlib.contextmanager
def fake_ollama_engine(settings):
    """The run's engine is Ollama, played by the fake server over real HTTP; the knowledge base
    is loaded and breakers, probe cache and Redis are fresh. Yields the FakeOllama."""
    from core.redis_client import get_redis
    from orchestration.engines.ollama import reset_breakers
    from orchestration.engines.probe import probe_ollama
    from testutils.fake_ollama import FakeOllama

    settings.LLM_BACKEND = "ollama"
    settings.OLLAMA_RETRY_INITIAL_SECONDS = 0.01
    reset_breakers()
    get_redis().flushdb()
    load_knowledge_base()
    with FakeOllama() as server:
        settings.OLLAMA_BASE_URL = server.url
        probe_ollama(use_cache=False)
        yield server
    reset_breakers()
