"""The built-in engine's rules and the policy's numbers, without a database."""

import pytest

from orchestration import policy
from orchestration.engines import builtin


@pytest.mark.parametrize(("text", "intent", "expected"), [
    ("Our production is down since 9am", "support", "critical"),
    ("We think there was a data breach", "support", "critical"),
    ("Please help ASAP, I'm locked out", "support", "high"),
    ("I was charged twice this month", "billing_issue", "high"),
    ("The export button does nothing", "bug_report", "medium"),
    ("How do I change my e-mail address?", "support", "low"),
    ("The download is slowdown-free", "support", "low"),  # words, not substrings: "down" alone is not an outage
])
def test_severity_rules(text, intent, expected):
    assert builtin.severity_of(text, intent)[0] == expected


@pytest.mark.parametrize(("text", "seats", "budget", "timeline", "urgent"), [
    ("We need 120 seats, budget is $50,000, starting this month", 120, 50_000, "now", False),
    ("A 1,500-person company, budget €20k, sometime next year", 1500, 20_000, "later", False),
    ("Team of 8 agents; budget has been approved; urgently please", 8, 0, "now", True),
    ("Just curious about the product", -1, -1, "unknown", False),
    ("We want to roll out to 30 users this quarter", 30, -1, "this_quarter", False),
])
def test_lead_signals_are_read_from_the_text(text, seats, budget, timeline, urgent):
    signals = builtin.lead_signals("", text)
    assert (signals.seats, signals.budget, signals.timeline, signals.urgent) == (seats, budget, timeline, urgent)


def test_lead_score_thresholds(settings):
    hot = policy.lead_score(seats=120, budget=50_000, timeline="now", urgent=False, prior_inquiries=0,
                            intent="sales")
    assert hot.points == {"seats": 30, "budget": 25, "timeline": 20, "intent": 5}
    assert (hot.score, hot.tier) == (80, "hot")
    warm = policy.lead_score(seats=30, budget=-1, timeline="this_quarter", urgent=False, prior_inquiries=0,
                             intent="pricing")
    assert (warm.score, warm.tier) == (37, "warm")
    cold = policy.lead_score(seats=-1, budget=-1, timeline="unknown", urgent=False, prior_inquiries=1,
                             intent="sales")
    assert (cold.score, cold.tier) == (10, "cold")
    settings.LEAD_WARM_SCORE = 10
    assert policy.lead_score(seats=-1, budget=-1, timeline="unknown", urgent=False, prior_inquiries=1,
                             intent="sales").tier == "warm"
    capped = policy.lead_score(seats=500, budget=10**6, timeline="now", urgent=True, prior_inquiries=5,
                               intent="demo_request")
    assert capped.score == 100


def test_classification_rules_name_the_reason(settings):
    settings.ESCALATION_CONFIDENCE_THRESHOLD = 0.6
    assert policy.classification_reasons(confidence=0.9, fallback_failure="") == []
    # `joined` is the text the run shows as escalation_reason.
    assert policy.joined(policy.classification_reasons(confidence=0.5, fallback_failure="")) == (
        "low_confidence: confidence 0.50 < 0.60")
    assert policy.joined(policy.classification_reasons(confidence=0.5, fallback_failure="llm_unavailable")) == (
        "model_unavailable: built-in fallback confidence 0.50 < 0.60")
    assert policy.classification_reasons(confidence=0.9, fallback_failure="model_output_invalid") == [
        policy.Reason("model_output_invalid", "classification fell back to the built-in engine")]
    assert policy.fallback_confidence(0.9) == 0.72
    assert policy.severity_reasons("high") == [policy.Reason("high_severity", "severity high")]
    assert policy.severity_reasons("medium") == []


@pytest.mark.parametrize(("intent", "kwargs", "phrase"), [
    ("faq", {"faq_answer": "Every plan starts with a 14-day free trial."}, "14-day free trial"),
    ("faq", {}, "within one business day"),
    ("demo_request", {}, "show you the product"),
    ("pricing", {"lead_tier": "warm", "seats": 40}, "quote for 40 seats"),
    ("pricing", {"lead_tier": "hot"}, "contact you today"),
    ("upgrade", {}, "keeps all your data"),
    ("support", {"severity": "critical"}, "an engineer is looking at it now"),
    ("complaint", {"severity": "medium"}, "I'm sorry for the trouble"),
])
def test_replies_read_like_a_person_wrote_them(intent, kwargs, phrase):
    reply = builtin.draft_reply(intent=intent, sender_name="Ana María Ruiz", subject="Hello", company="Acme",
                                **kwargs).body
    assert reply.startswith("Hi Ana,")
    assert phrase in reply
    assert reply.endswith("Best regards,\nThe Acme team")
    assert "{" not in reply


def test_reasons_read_back_from_state_in_both_stored_forms():
    """A checkpoint written before reasons were structured holds "rule: detail" strings; a run
    resumed from it reads the same reasons as one holding {rule, detail}."""
    old = {"escalation_reasons": ["low_confidence: confidence 0.50 < 0.60", "kb_no_answer"]}
    new = {"escalation_reasons": policy.stored(policy.reasons_of(old))}
    assert new["escalation_reasons"] == [{"rule": "low_confidence", "detail": "confidence 0.50 < 0.60"},
                                         {"rule": "kb_no_answer", "detail": ""}]
    assert policy.reasons_of(new) == policy.reasons_of(old)
    assert policy.should_escalate(old)
    assert policy.should_escalate(new)
    assert not policy.should_escalate({"escalation_reasons": []})
    assert policy.next_steps(policy.reasons_of(old)) == [policy.LOW_CONFIDENCE.next_step,
                                                         policy.KB_NO_ANSWER.next_step]
