"""The handoff summary: what an operator reads first when a run is handed to them."""

from collections.abc import Mapping
from typing import Any

from inquiries import selectors
from inquiries.models import Family, Inquiry

from . import policy


def handoff_summary(state: Mapping[str, Any], *, inquiry: Inquiry, run_id) -> str:
    """What the operator reads first: who, what, what was tried, why a human, and each fired
    rule's next step (policy.RULES)."""
    prior = selectors.contact_prior_inquiries(email=inquiry.sender_email, exclude_run_id=run_id)
    first = inquiry.body.strip().split("\n", 1)[0][:300]
    tried = [f"classified as {state.get('intent')} with confidence {state.get('intent_confidence', 0):.2f}"]
    if state.get("kb_articles") is not None and state.get("family") == Family.FAQ:
        tried.append("knowledge base: " + (", ".join(state["kb_articles"]) or "no matching article"))
    if state.get("lead_tier"):
        tried.append(f"lead score {state.get('lead_score')} ({state['lead_tier']})")
    if state.get("severity"):
        tried.append(f"severity {state['severity']}")
    if state.get("fallbacks"):
        tried.append("fell back to the built-in engine: " + "; ".join(state["fallbacks"]))
    reasons = policy.reasons_of(state)
    read = (f"Read: language {state.get('language') or 'unknown'}, sentiment {state.get('sentiment') or 'unknown'}, "
            f"confidence {state.get('confidence_band') or 'unknown'}")
    answered = [f"{a['question'][:120]} \u2192 {a['slug']}" for a in state.get("answers") or []]
    open_questions = [q[:160] for q in state.get("unanswered") or []]
    return "\n".join([
        f"Who: {inquiry.sender_name} <{inquiry.sender_email}>, {prior} earlier inquir{'y' if prior == 1 else 'ies'}",
        f"What: {inquiry.subject} \u2014 {first}",
        read,
        f"Tried: {'; '.join(tried)}",
        *([f"Answered from the knowledge base: {'; '.join(answered)}"] if answered else []),
        *([f"No article answers: {'; '.join(open_questions)}"] if open_questions else []),
        f"Why a human: {policy.joined(reasons)}",
        f"Next step: {' '.join(policy.next_steps(reasons)) or 'Review the run and reply.'}",
    ])
