"""The built-in engine: deterministic, no network, fast. It routes on its own (the classifier),
rates severity and reads buying signals with explicit rules, answers from the knowledge base and
writes replies from templates (reply_templates.py, in six languages). It is also the fallback whenever Ollama fails mid-run.
"""

import re

from django.conf import settings

from core import cpu_budget
from core.text_safety import SUBJECT_MAX, safe_first_name, safe_subject
from inquiries.models import INTENT_FAMILY, Family, Intent, Severity

from .classifier import get_classifier
from .reply_templates import TEMPLATES
from .types import Classification, FaqAnswer, LeadSignals, Reply, SupportAssessment

NAME = "builtin"
MODEL = "autoflow-builtin-1"

# Severity rules: the first list that matches wins. Words, not substrings.
_CRITICAL = (
    r"production (is )?down", r"(site|service|system|platform|everything|app) (is )?down", r"outage",
    r"data (loss|breach|leak)", r"(security|data) breach", r"(key|password|credentials?) (has |have )?(leaked|been compromised)",
    r"nothing works", r"all (of )?(our )?customers", r"lost (all|our) data", r"hacked",
)
_HIGH = (
    r"urgent(ly)?", r"asap", r"immediately", r"critical", r"blocked", r"cannot (log ?in|access)",
    r"can'?t (log ?in|access)", r"locked out", r"charged twice", r"double charged?", r"fraud", r"missing (runs|data)",
    r"not working at all", r"every (request|call|post) (fails|returns)", r"deadline", r"audit",
)
_MEDIUM_INTENTS = {Intent.BUG_REPORT, Intent.BILLING_ISSUE, Intent.COMPLAINT}


# Compiled once, words not substrings; each is a fixed phrase with small alternations (linear time).
_CRITICAL_RULES = {p: re.compile(rf"\b{p}\b") for p in _CRITICAL}
_HIGH_RULES = {p: re.compile(rf"\b{p}\b") for p in _HIGH}


def _matches(rules: dict[str, re.Pattern], text: str) -> list[str]:
    found = []
    for p, rule in rules.items():
        cpu_budget.check("severity rules")
        if rule.search(text):
            found.append(p)
    return found


def severity_of(text: str, intent: str) -> tuple[str, list[str]]:
    lowered = text.lower()
    if found := _matches(_CRITICAL_RULES, lowered):
        return Severity.CRITICAL, found
    if found := _matches(_HIGH_RULES, lowered):
        return Severity.HIGH, found
    if intent in _MEDIUM_INTENTS:
        return Severity.MEDIUM, []
    return Severity.LOW, []


def classify(subject: str, body: str) -> Classification:
    prediction = get_classifier().predict(subject, body)
    cpu_budget.check("classification")
    severity = Severity.LOW
    if INTENT_FAMILY[prediction.intent] == Family.SUPPORT:
        severity, _ = severity_of(f"{subject}\n{body}", prediction.intent)
    top = sorted(prediction.probabilities.items(), key=lambda kv: kv[1], reverse=True)[:3]
    return Classification(
        intent=prediction.intent, confidence=prediction.confidence, severity=severity,
        reasoning="classifier: " + ", ".join(f"{intent} {p:.2f}" for intent, p in top),
    )


def assess_support(subject: str, body: str, intent: str) -> SupportAssessment:
    severity, found = severity_of(f"{subject}\n{body}", intent)
    why = f" (signals: {', '.join(re.sub(r'[^a-z ]', '', f) for f in found)})" if found else ""
    first = re.split(r"(?<=[.!?])\s", body.strip(), maxsplit=1)[0][:200]
    return SupportAssessment(severity=severity, summary=f"{Intent(intent).label}, severity {severity}{why}: {first}")


# Linear time on any text (tests/test_redos.py): a number starts only where no digit (or digit and
# separator) precedes it, so a long run of digits is tried once, not from each of its positions;
# and its length is bounded (12 digits, four thousands groups), far above the caps below.
_NUMBER = r"(?<!\d)(?<!\d[,.])(\d{1,3}(?:[,.]\d{3}){1,4}|\d{1,12})"
_SEATS = re.compile(rf"{_NUMBER}\s{{0,5}}(?:\+\s{{0,5}})?(?:-\s{{0,5}})?(?:seats?|users?|people|persons?|agents?|employees|licen[cs]es|"
                    rf"members|staff|reps?|-person|person)\b", re.I)
_BUDGET = re.compile(rf"(?:[$€£]\s?{_NUMBER}\s?(k|m)?\b|{_NUMBER}\s?(k|m)?\s?(?:usd|eur|gbp|dollars|euros)\b)", re.I)
_BUDGET_WORDS = re.compile(r"\bbudget (?:is |has been |was )?(?:approved|allocated|set aside|signed off)\b", re.I)
_NOW = re.compile(r"\b(asap|immediately|right away|this week|today|tomorrow|this month|next week|urgent(?:ly)?|"
                  r"as soon as possible|before (?:the )?end of (?:the )?month)\b", re.I)
_QUARTER = re.compile(r"\b(this quarter|next month|within (?:\d{1,3}|a few|two|three) (?:weeks|months)|before "
                      r"(?:january|february|march|april|may|june|july|august|september|october|november|december)|"
                      r"q[1-4])\b", re.I)
_LATER = re.compile(r"\b(next year|next quarter|later this year|in the future|eventually|20\d\d)\b", re.I)
_URGENT = re.compile(r"\b(urgent(?:ly)?|asap|immediately|as soon as possible|quickly|deadline)\b", re.I)


def _to_int(number: str) -> int:
    return int(re.sub(r"[,.]", "", number))


def lead_signals(subject: str, body: str) -> LeadSignals:
    text = f"{subject}\n{body}"
    cpu_budget.check("lead signals")
    seats = max((_to_int(m.group(1)) for m in _SEATS.finditer(text)), default=-1)
    budget = -1
    for match in _BUDGET.finditer(text):
        number = match.group(1) or match.group(3)
        unit = (match.group(2) or match.group(4) or "").lower()
        value = _to_int(number) * {"k": 1_000, "m": 1_000_000}.get(unit, 1)
        budget = max(budget, value)
    cpu_budget.check("lead signals")
    if budget < 0 and _BUDGET_WORDS.search(text):
        budget = 0  # a budget exists, amount unknown
    if _NOW.search(text):
        timeline = "now"
    elif _QUARTER.search(text):
        timeline = "this_quarter"
    elif _LATER.search(text):
        timeline = "later"
    else:
        timeline = "unknown"
    return LeadSignals(seats=min(seats, 1_000_000), budget=min(budget, 1_000_000_000), timeline=timeline,
                       urgent=bool(_URGENT.search(text)))


def answer_faq(subject: str, body: str, articles: list[dict]) -> FaqAnswer:
    """Answer with the passages the search found (orchestration/retrieval.py: the sentences of each
    article that answer one of the inquiry's questions), in the order of the questions."""
    passages = [a["body"].strip() for a in articles if a["body"].strip()]
    if not passages:
        return FaqAnswer(answerable=False)
    return FaqAnswer(answerable=True, answer="\n\n".join(passages)[:4000])


def first_name(name: str) -> str:
    return safe_first_name(name)


MAX_EXTRA_QUESTIONS = 5  # answered and unanswered other questions shown in one reply each


def reply_language(language: str) -> str:
    """The language a reply is written in: `language` when it has templates and is among
    settings.REPLY_LANGUAGES, else English."""
    code = (language or "").strip().lower()[:2]
    enabled = {str(c).strip().lower()[:2] for c in settings.REPLY_LANGUAGES}
    return code if code in TEMPLATES and code in enabled else "en"


def _quoted(question: str) -> str:
    """A question as the reply quotes it: safe (core/text_safety.py), with an ellipsis when cut."""
    shown = safe_subject(question)
    return shown + "\u2026" if shown and len(" ".join(question.split())) > SUBJECT_MAX else shown


def _other_questions(t: dict[str, str], answers, unanswered) -> list[str]:
    """Paragraphs for the inquiry's other questions: each answered one under a lead-in with the
    article's passage quoted verbatim, then those a colleague will follow up on."""
    paragraphs, seen = [], set()
    for answer in list(answers or ())[:MAX_EXTRA_QUESTIONS]:
        passage = str(answer.get("passage") or "").strip()
        if not passage or answer.get("question") in seen:  # one article's passage per question
            continue
        seen.add(answer.get("question"))
        question = _quoted(str(answer.get("question") or "")) or safe_subject(str(answer.get("title") or ""))
        title = safe_subject(str(answer.get("title") or "")) or question
        paragraphs.append(t["also_asked"].format(question=question, title=title) + "\n" + passage)
    open_questions = [q for q in (_quoted(str(q)) for q in list(unanswered or ())[:MAX_EXTRA_QUESTIONS]) if q]
    if len(open_questions) == 1:
        paragraphs.append(t["follow_up_one"].format(question=open_questions[0]))
    elif open_questions:
        paragraphs.append(t["follow_up_many"] + "\n" + "\n".join(f"- {q}" for q in open_questions))
    return paragraphs


def draft_reply(*, intent: str, sender_name: str, subject: str, company: str, faq_answer: str = "",
                lead_tier: str = "", severity: str = "", escalated: bool = False, seats: int = -1,
                language: str = "en", answers: list[dict] = (), unanswered: list[str] = ()) -> Reply:
    """A reply that reads like a competent person wrote it; the specifics come from the run.

    It is written in `language` when the engine has templates for it (orchestration/engines/
    reply_templates.py), else in English. `answers` ({"question", "passage", "slug", "title"})
    are knowledge-base passages for the inquiry's other questions, quoted verbatim; `unanswered`
    are questions no article answers, which a colleague follows up on."""
    t = TEMPLATES[reply_language(language)]
    name = first_name(sender_name)
    hello = t["hello_anonymous"] if name == "there" else t["hello"].format(name=name)
    # The caller's subject, with links, addresses and control characters removed (core/text_safety.py).
    shown = safe_subject(subject)
    about = t["about"].format(subject=shown) if shown else ""
    family = INTENT_FAMILY.get(intent, Family.FAQ)
    if family == Family.FAQ and faq_answer:
        middle = [t["faq_thanks"].format(about=about), faq_answer, t["faq_more"]]
    elif family == Family.FAQ:
        middle = [t["faq_none_thanks"].format(about=about), t["faq_none"]]
    elif intent == Intent.DEMO_REQUEST:
        middle = [t["demo_thanks"].format(about=about), t["demo_ask"]]
    elif family == Family.SALES:
        pace = t.get(f"pace_{lead_tier}") if lead_tier in ("hot", "warm") else t["pace_cold"]
        extra = {
            Intent.PRICING: t["pricing_seats"].format(seats=seats) if seats > 0 else t["pricing_ask"],
            Intent.UPGRADE: t["upgrade"],
        }.get(intent, t["sales_ask"])
        middle = [t["sales_thanks"].format(about=about), t["pace_details"].format(pace=pace), extra]
    else:
        response = t.get(severity) if severity in ("critical", "high") else t["normal"]
        sorry = f"{t['sorry']} " if intent in (Intent.COMPLAINT, Intent.BUG_REPORT, Intent.BILLING_ISSUE) else ""
        middle = [t["support_thanks"].format(about=about), f"{sorry}{response}".strip(), t["details"]]
    middle += _other_questions(t, answers, unanswered)
    if escalated:
        middle.append(t["escalated"])
    return Reply(body="\n\n".join([hello, *middle, t["signoff"].format(company=company)]))
