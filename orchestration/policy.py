"""Business rules of the workflow, in one place: when a human must see a run, and how a lead is
scored.

Escalation: each rule is an `EscalationRule` record in `RULES` (name, what it means, the
operator's next step). A rule that fires gives a `Reason` (`rule`, `detail`); the run keeps them
as `escalation_reasons` and, joined as `"rule: detail; rule: detail"`, as `escalation_reason`.
`should_escalate(state)` is the one answer to "does this run go to a human?".

Lead score (0-100): the points of each signal are the tables below (`SEATS_POINTS`,
`BUDGET_POINTS`, `TIMELINE_POINTS`, `URGENCY_POINTS`, `PRIOR_INQUIRY_POINTS`, `INTENT_POINTS`);
the tier is `hot` from settings.LEAD_HOT_SCORE, `warm` from settings.LEAD_WARM_SCORE, else `cold`.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from inquiries.models import (
    ConfidenceBand,
    Family,
    Intent,
    LeadTier,
    LLMBackend,
    Sentiment,
    Severity,
)


@dataclass(frozen=True)
class EscalationRule:
    name: str
    description: str
    next_step: str  # what the operator should do about it, shown in the handoff summary


LOW_CONFIDENCE = EscalationRule(
    "low_confidence", "classification confidence under the threshold",
    "Check the intent, correct it if needed, then approve or edit the draft.")
HIGH_SEVERITY = EscalationRule(
    "high_severity", "support severity high or critical",
    "Contact the sender now; involve the on-call engineer if production is affected.")
KB_NO_ANSWER = EscalationRule(
    "kb_no_answer", "the knowledge base cannot answer the question",
    "Answer the question, and consider adding a knowledge-base article for it.")
MODEL_OUTPUT_INVALID = EscalationRule(
    "model_output_invalid", "the model's output stayed invalid after one repair",
    "Review the built-in engine's draft; the model's answer could not be used.")
MODEL_UNAVAILABLE = EscalationRule(
    "model_unavailable", "the model was unavailable past its budget and the fallback is not confident",
    "Review the built-in engine's result; check that Ollama is running.")

SUSPECTED_INJECTION = EscalationRule(
    "suspected_injection", "the inquiry tries to give the model instructions",
    "Read the inquiry as text, answer its real question if it has one, and send nothing it asked to include.")
REPLY_UNVERIFIED = EscalationRule(
    "reply_unverified", "the reply names a link, address, phone number or amount the run's context does not",
    "Check each named item against the knowledge base; remove what is not ours, then approve.")

REPLY_THROTTLED = EscalationRule(
    "reply_throttled", "the automatic reply was held: a throttle on what goes out, or our own address",
    "Check the recipient is a real customer (not a flood or a mail loop), then approve the draft "
    "or resolve without replying.")
REPLAY_NEEDS_APPROVAL = EscalationRule(
    "replay_needs_approval", "a replayed run never replies on its own: the sender may have had a reply",
    "Compare with the original run's reply; approve the draft only if the sender should get another.")

LANGUAGE_UNSUPPORTED = EscalationRule(
    "language_unsupported", "the built-in engine has no reply templates in the sender's language",
    "Reply in the sender's language yourself; the draft is in English.")
NEGATIVE_SENTIMENT = EscalationRule(
    "negative_sentiment", "a very negative support inquiry (NEGATIVE_SENTIMENT_ESCALATES)",
    "Contact the sender personally: acknowledge the frustration before the fix.")

CPU_BUDGET = EscalationRule(
    "cpu_budget", "a step of the workflow went over its CPU budget and stopped early",
    "Read the inquiry and reply yourself; its automatic analysis did not finish.")

RULES: dict[str, EscalationRule] = {rule.name: rule for rule in (
    LOW_CONFIDENCE, HIGH_SEVERITY, KB_NO_ANSWER, MODEL_OUTPUT_INVALID, MODEL_UNAVAILABLE, SUSPECTED_INJECTION,
    REPLY_UNVERIFIED, REPLY_THROTTLED, REPLAY_NEEDS_APPROVAL, LANGUAGE_UNSUPPORTED, NEGATIVE_SENTIMENT, CPU_BUDGET)}


@dataclass(frozen=True)
class Reason:
    """One rule that fired for a run, and why."""

    rule: str
    detail: str

    @property
    def text(self) -> str:
        """The form `escalation_reason` shows: `"rule: detail"`."""
        return f"{self.rule}: {self.detail}"

    def __str__(self) -> str:
        return self.text

    def as_dict(self) -> dict[str, str]:
        """The form kept in the workflow state, the checkpoint and `Run.escalation_reasons`."""
        return {"rule": self.rule, "detail": self.detail}

    @classmethod
    def of(cls, value: "Reason | Mapping[str, Any] | str") -> "Reason":
        """A reason as stored: a `{rule, detail}` dict, or the `"rule: detail"` text that states
        (checkpoints, recorded steps) written before reasons were structured still hold."""
        if isinstance(value, Reason):
            return value
        if isinstance(value, str):
            rule, _, detail = value.partition(":")
            return cls(rule.strip(), detail.strip())
        return cls(str(value["rule"]), str(value.get("detail", "")))


def reason(rule: EscalationRule, detail: str) -> Reason:
    return Reason(rule.name, detail)


def reasons_of(state: Mapping[str, Any]) -> list[Reason]:
    """The escalation reasons of a workflow state, whichever form its checkpoint stored them in."""
    return [Reason.of(value) for value in state.get("escalation_reasons") or []]


def should_escalate(state: Mapping[str, Any]) -> bool:
    """Whether the run goes to a human instead of its reply being sent: some rule fired."""
    return bool(reasons_of(state))


def stored(reasons: Iterable[Reason]) -> list[dict[str, str]]:
    """Reasons as the state and `Run.escalation_reasons` keep them."""
    return [r.as_dict() for r in reasons]


def joined(reasons: Iterable[Reason]) -> str:
    """Reasons as `Run.escalation_reason` shows them: `"rule: detail; rule: detail"`."""
    return "; ".join(r.text for r in reasons)


def next_steps(reasons: Iterable[Reason]) -> list[str]:
    """The operator's next step for each rule that fired, once each, in order."""
    return list(dict.fromkeys(RULES[r.rule].next_step for r in reasons if r.rule in RULES))


def confidence_band(confidence: float) -> str:
    """`low` under ESCALATION_CONFIDENCE_THRESHOLD, `high` from CONFIDENCE_BAND_HIGH, else `medium`."""
    if confidence < settings.ESCALATION_CONFIDENCE_THRESHOLD:
        return ConfidenceBand.LOW
    if confidence >= settings.CONFIDENCE_BAND_HIGH:
        return ConfidenceBand.HIGH
    return ConfidenceBand.MEDIUM


def classification_reasons(*, confidence: float, fallback_failure: str) -> list[Reason]:
    """The low band goes to a human (as model_unavailable when it is an unavailable model's fallback)."""
    threshold = settings.ESCALATION_CONFIDENCE_THRESHOLD
    reasons = []
    if fallback_failure == "model_output_invalid":
        reasons.append(reason(MODEL_OUTPUT_INVALID, "classification fell back to the built-in engine"))
    if confidence_band(confidence) == ConfidenceBand.LOW:
        if fallback_failure == "llm_unavailable":
            reasons.append(reason(MODEL_UNAVAILABLE,
                                  f"built-in fallback confidence {confidence:.2f} < {threshold:.2f}"))
        else:
            reasons.append(reason(LOW_CONFIDENCE, f"confidence {confidence:.2f} < {threshold:.2f}"))
    return reasons


def language_reasons(*, language: str, backend: str, builtin_writes_it: bool) -> list[Reason]:
    """The built-in engine writes only the languages it has templates for (and REPLY_LANGUAGES
    enables); any other detected language goes to a human (Ollama writes in the sender's language)."""
    if backend == LLMBackend.BUILTIN and language and not builtin_writes_it:
        return [reason(LANGUAGE_UNSUPPORTED, f"language {language}; the draft is in English")]
    return []


def sentiment_reasons(*, sentiment: str, family: str) -> list[Reason]:
    if settings.NEGATIVE_SENTIMENT_ESCALATES and family == Family.SUPPORT and sentiment == Sentiment.VERY_NEGATIVE:
        return [reason(NEGATIVE_SENTIMENT, "very negative support inquiry")]
    return []


def injection_reasons(signals: list[str]) -> list[Reason]:
    return [reason(SUSPECTED_INJECTION, ", ".join(signals))] if signals else []


def grounding_reasons(failures: list) -> list[Reason]:
    """A reply naming what the run's context does not (at most five of them, shown)."""
    if not failures:
        return []
    shown = ", ".join(str(f) for f in failures[:5]) + (f" and {len(failures) - 5} more" if len(failures) > 5 else "")
    return [reason(REPLY_UNVERIFIED, f"not in the run's context: {shown}")]


def fallback_confidence(confidence: float) -> float:
    """A fallback's answer counts for less: the policy should lean towards a human."""
    return round(confidence * 0.8, 4)


def severity_reasons(severity: str) -> list[Reason]:
    if severity in (Severity.HIGH, Severity.CRITICAL):
        return [reason(HIGH_SEVERITY, f"severity {severity}")]
    return []


def knowledge_reasons(*, answered: bool, articles_found: bool, unanswered: Iterable[str] = ()) -> list[Reason]:
    """An FAQ the knowledge base did not answer (no article matched well enough, or the articles
    found do not answer it) goes to a human; so does one of whose questions some stay unanswered
    (no one would follow up on them otherwise)."""
    if not answered:
        return [reason(KB_NO_ANSWER, "the articles found do not answer it" if articles_found else "no article matched")]
    open_questions = [q[:120] for q in unanswered]
    if open_questions:
        return [reason(KB_NO_ANSWER, "no article answers: " + " | ".join(open_questions[:3]))]
    return []


# Lead-score tables. Bands are (at least, points), highest first: the first band the value
# reaches gives its points; a value under every band (or unknown, -1) gives none.
SEATS_POINTS = ((100, 30), (25, 20), (5, 10), (1, 5))  # seats, users or company size
BUDGET_POINTS = ((10_000, 25), (0, 15))  # a stated amount; 0 is "budget approved" without one
TIMELINE_POINTS = {"now": 20, "this_quarter": 12, "later": 5}
URGENCY_POINTS = 10  # says it is urgent
PRIOR_INQUIRY_POINTS = ((2, 10), (1, 5))  # earlier inquiries from the same sender
INTENT_POINTS = {Intent.DEMO_REQUEST: 10, Intent.UPGRADE: 10, Intent.PRICING: 5, Intent.SALES: 5}


def _band(value: int, bands: tuple[tuple[int, int], ...]) -> int:
    return next((points for at_least, points in bands if value >= at_least), 0)


@dataclass(frozen=True)
class LeadScore:
    score: int
    tier: str
    points: dict[str, int]


def lead_score(*, seats: int, budget: int, timeline: str, urgent: bool, prior_inquiries: int,
               intent: str) -> LeadScore:
    earned = {
        "seats": _band(seats, SEATS_POINTS),
        "budget": _band(budget, BUDGET_POINTS),
        "timeline": TIMELINE_POINTS.get(timeline, 0),
        "urgency": URGENCY_POINTS if urgent else 0,
        "prior_inquiries": _band(prior_inquiries, PRIOR_INQUIRY_POINTS),
        "intent": INTENT_POINTS.get(intent, 0),
    }
    points = {signal: n for signal, n in earned.items() if n}
    score = min(sum(points.values()), 100)
    if score >= settings.LEAD_HOT_SCORE:
        tier = LeadTier.HOT
    elif score >= settings.LEAD_WARM_SCORE:
        tier = LeadTier.WARM
    else:
        tier = LeadTier.COLD
    return LeadScore(score=score, tier=str(tier), points=points)
