"""The evaluation gate (docs/workflow.md, "The evaluation gate"): the golden set through the
workflow's nodes on the built-in engine must stay over these floors, so a change that makes
triage worse fails CI. The floors are the scores measured when they were set, less a small margin
(docs/benchmarks.md, "Triage quality")."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from inquiries.models import OutboundEmail, Run
from orchestration.evaluation_gate import GOLDEN, read_cases
from testutils.workflow import fake_ollama_engine, load_knowledge_base

pytestmark = pytest.mark.django_db

FLOORS = {
    "family": 0.87, "intent": 0.77, "escalation": 0.70, "rules": 0.78, "language": 0.95, "sentiment_band": 0.48,
    "facts": 0.35, "grounded": 0.98, "reply_language": 0.95,
}


def _gate(*args: str) -> tuple[dict, str]:
    out = io.StringIO()
    try:
        call_command("evaluate", *args, stdout=out)
    except CommandError as exc:
        return json.loads(out.getvalue().strip().splitlines()[-1]), str(exc)
    return json.loads(out.getvalue().strip().splitlines()[-1]), ""


def _floors() -> list[str]:
    return [arg for metric, floor in FLOORS.items() for arg in (f"--min-{metric.replace('_', '-')}", str(floor))]


def test_the_golden_set_is_large_and_covers_every_family_language_and_new_rule():
    cases = read_cases(GOLDEN)
    assert len(cases) >= 150
    assert {c.expect["family"] for c in cases} == {"faq", "sales", "support"}
    assert {"en", "de", "fr", "es", "pt", "nl"} <= {c.expect.get("language") for c in cases}
    fired = {rule for c in cases for rule in c.expect.get("rules", [])}
    assert {"language_unsupported", "negative_sentiment", "kb_no_answer", "high_severity"} <= fired


def test_the_built_in_engine_passes_the_gate_and_the_dry_run_stores_nothing():
    load_knowledge_base()
    summary, failed = _gate(str(GOLDEN), *_floors())
    assert failed == "", failed
    assert summary["passed"] is True
    assert summary["backend"] == "builtin"
    assert summary["n"] == len(read_cases(GOLDEN))
    assert Run.objects.count() == 0
    assert OutboundEmail.objects.count() == 0


def test_a_worse_triage_fails_the_gate(monkeypatch):
    """A classifier that routes everything to the FAQ agent is what the gate exists to stop."""
    from orchestration.engines import builtin
    from orchestration.engines.types import Classification

    load_knowledge_base()
    monkeypatch.setattr(builtin, "classify", lambda subject, body: Classification(intent="faq", confidence=0.95))
    summary, failed = _gate(str(GOLDEN), *_floors())
    assert summary["passed"] is False
    assert "family" in failed
    assert summary["family"] < FLOORS["family"]


def test_a_threshold_over_the_score_fails_and_names_the_metric(tmp_path):
    load_knowledge_base()
    golden = tmp_path / "two.jsonl"
    golden.write_text("\n".join(GOLDEN.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8")
    summary, failed = _gate(str(golden), "--min-grounded", "1.01")
    assert summary["n"] == 2
    assert summary["passed"] is False
    assert "grounded" in failed


def test_a_malformed_golden_set_is_refused(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "body": "hi", "expect": {"family": "sales", "intent": "faq"}}) + "\n")
    with pytest.raises(CommandError, match="not of family"):
        call_command("evaluate", str(bad), stdout=io.StringIO())


def test_the_ollama_engine_is_wired_through_the_gate(settings):
    """With the fake model (which answers `faq` to every classification) the scores mean nothing;
    what counts is that every case went through the model over HTTP."""
    with fake_ollama_engine(settings) as server:
        summary, _ = _gate(str(GOLDEN), "--backend", "ollama")
        assert summary["backend"] == "ollama"
        assert summary["n"] == len(read_cases(GOLDEN))
        assert server.chat_count >= 2 * summary["n"]  # a classification and a reply at least, per case
