"""Business rules of the workflow, in one place: when a human must see a run, and how a lead is
scored. Each escalation rule has a name; a run's `escalation_reason` lists the rules that fired.

Lead score (0-100) from explicit signals, then the tier:

| signal | points |
|---|---|
| seats or company size: >= 100 / >= 25 / >= 5 / fewer | 30 / 20 / 10 / 5 |
| budget: stated amount >= 10,000 / any amount or "budget approved" | 25 / 15 |
| timeline: now (within a month) / this quarter / later | 20 / 12 / 5 |
| says it is urgent | 10 |
| prior inquiries from the same sender: 2 or more / 1 | 10 / 5 |
| intent: demo_request or upgrade / pricing or sales | 10 / 5 |

`hot` >= LEAD_HOT_SCORE (60), `warm` >= LEAD_WARM_SCORE (30), else `cold`.
"""

from dataclasses import dataclass

from django.conf import settings

from inquiries.models import Intent, LeadTier, Severity

LOW_CONFIDENCE = "low_confidence"
HIGH_SEVERITY = "high_severity"
KB_NO_ANSWER = "kb_no_answer"
MODEL_OUTPUT_INVALID = "model_output_invalid"
MODEL_UNAVAILABLE = "model_unavailable"

RULES = {
    LOW_CONFIDENCE: "classification confidence under the threshold",
    HIGH_SEVERITY: "support severity high or critical",
    KB_NO_ANSWER: "the knowledge base cannot answer the question",
    MODEL_OUTPUT_INVALID: "the model's output stayed invalid after one repair",
    MODEL_UNAVAILABLE: "the model was unavailable past its budget and the fallback is not confident",
}


def reason(rule: str, detail: str) -> str:
    return f"{rule}: {detail}"


def classification_reasons(*, confidence: float, fallback_failure: str) -> list[str]:
    threshold = settings.ESCALATION_CONFIDENCE_THRESHOLD
    reasons = []
    if fallback_failure == "model_output_invalid":
        reasons.append(reason(MODEL_OUTPUT_INVALID, "classification fell back to the built-in engine"))
    if confidence < threshold:
        if fallback_failure == "llm_unavailable":
            reasons.append(reason(MODEL_UNAVAILABLE,
                                  f"built-in fallback confidence {confidence:.2f} < {threshold:.2f}"))
        else:
            reasons.append(reason(LOW_CONFIDENCE, f"confidence {confidence:.2f} < {threshold:.2f}"))
    return reasons


def fallback_confidence(confidence: float) -> float:
    """A fallback's answer counts for less: the policy should lean towards a human."""
    return round(confidence * 0.8, 4)


def severity_reasons(severity: str) -> list[str]:
    if severity in (Severity.HIGH, Severity.CRITICAL):
        return [reason(HIGH_SEVERITY, f"severity {severity}")]
    return []


@dataclass(frozen=True)
class LeadScore:
    score: int
    tier: str
    points: dict[str, int]


def lead_score(*, seats: int, budget: int, timeline: str, urgent: bool, prior_inquiries: int,
               intent: str) -> LeadScore:
    points: dict[str, int] = {}
    if seats >= 100:
        points["seats"] = 30
    elif seats >= 25:
        points["seats"] = 20
    elif seats >= 5:
        points["seats"] = 10
    elif seats >= 1:
        points["seats"] = 5
    if budget >= 10_000:
        points["budget"] = 25
    elif budget >= 0:
        points["budget"] = 15
    timeline_points = {"now": 20, "this_quarter": 12, "later": 5}.get(timeline)
    if timeline_points:
        points["timeline"] = timeline_points
    if urgent:
        points["urgency"] = 10
    if prior_inquiries >= 2:
        points["prior_inquiries"] = 10
    elif prior_inquiries == 1:
        points["prior_inquiries"] = 5
    intent_points = {Intent.DEMO_REQUEST: 10, Intent.UPGRADE: 10, Intent.PRICING: 5, Intent.SALES: 5}.get(intent)
    if intent_points:
        points["intent"] = intent_points
    score = min(sum(points.values()), 100)
    if score >= settings.LEAD_HOT_SCORE:
        tier = LeadTier.HOT
    elif score >= settings.LEAD_WARM_SCORE:
        tier = LeadTier.WARM
    else:
        tier = LeadTier.COLD
    return LeadScore(score=score, tier=str(tier), points=points)
