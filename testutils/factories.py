"""Small builders for test data (plain functions: the models are simple enough)."""

from datetime import timedelta
from itertools import count

from django.utils import timezone

from inquiries.models import Inquiry, Run, RunStep

_seq = count(1)


def make_inquiry(**overrides) -> Inquiry:
    n = next(_seq)
    fields = {
        "sender_name": f"Sender {n}",
        "sender_email": f"sender{n}@example.com",
        "subject": f"Question number {n}",
        "body": "How much does the Growth plan cost for 20 seats?",
        "metadata": {"source": "tests"},
    }
    fields.update(overrides)
    return Inquiry.objects.create(**fields)


def make_run(*, inquiry: Inquiry | None = None, **overrides) -> Run:
    fields = {"inquiry": inquiry or make_inquiry(), "workflow_version": "1.0.0"}
    if overrides.get("status") in Run.TERMINAL_STATUSES:
        fields["finished_at"] = timezone.now()
    if overrides.get("status") == Run.Status.ESCALATED:
        fields["escalate"] = True
    fields.update(overrides)
    return Run.objects.create(**fields)


def make_step(*, run: Run, sequence: int, node: str = "classify_intent", **overrides) -> RunStep:
    finished = timezone.now()
    fields = {
        "run": run,
        "sequence": sequence,
        "key": overrides.pop("key", node),
        "node": node,
        "agent": node,
        "action": f"ran {node}",
        "output": f"output of {node}",
        "started_at": finished - timedelta(milliseconds=12),
        "finished_at": finished,
        "duration_ms": 12,
    }
    fields.update(overrides)
    return RunStep.objects.create(**fields)
