"""The workflow's nodes (docs/workflow.md). Each is `fn(state, ctx) -> StepResult` made a node by
`steps.node`, which records its step; graph.py wires them. Whether a run escalates is
`policy.should_escalate(state)`; the nodes only add the `Reason`s the policy gives them.
"""

from typing import Any

from django.conf import settings

from inquiries import selectors, services
from inquiries.models import INTENT_FAMILY, Family, LLMBackend, Severity

from . import policy, reply_safety, retrieval
from .analysis import read_inquiry
from .engines import builtin, prompts
from .handoff import handoff_summary
from .steps import AgentState, RunContext, StepResult, fallbacks, inquiry_text, node


@node(agent="classifier")
def classify_intent(state: AgentState, ctx: RunContext) -> StepResult:
    """Classify the intent (and a support severity); read the language, the sentiment and the
    entities. Escalate on the low confidence band, a bad fallback, a suspected injection, a
    language the built-in engine cannot write, or a very negative support inquiry."""
    inquiry = ctx.inquiry
    outcome = ctx.engine.classify(**inquiry_text(ctx))
    value = outcome.value
    confidence = policy.fallback_confidence(value.confidence) if outcome.fallback else value.confidence
    band = policy.confidence_band(confidence)
    family = str(INTENT_FAMILY[value.intent])
    read = read_inquiry(inquiry.subject, inquiry.body, model_sentiment=(
        value.sentiment if outcome.backend == LLMBackend.OLLAMA else ""))
    reasons = policy.classification_reasons(confidence=confidence,
                                            fallback_failure=outcome.failure if outcome.fallback else "")
    reasons += policy.injection_reasons(reply_safety.injection_signals(inquiry.subject, inquiry.body))
    reasons += policy.language_reasons(language=read.language, backend=ctx.engine.backend,
                                       builtin_writes_it=builtin.reply_language(read.language) == read.language)
    reasons += policy.sentiment_reasons(sentiment=read.sentiment, family=family)
    severity = value.severity if family == Family.SUPPORT else ""
    return StepResult(
        update={"intent": value.intent, "family": family, "intent_confidence": confidence, "confidence_band": band,
                "severity": severity, "language": read.language, "sentiment": read.sentiment,
                "entities": read.entities, "escalation_reasons": policy.stored(reasons),
                "fallbacks": fallbacks(state, outcome, "classify_intent")},
        action=(f"Classified as {value.intent} ({confidence:.2f}, {band}), routed to {family}; "
                f"language {read.language or 'unknown'}, sentiment {read.sentiment}"),
        output=value.reasoning, outcome=outcome, inputs={"subject": inquiry.subject},
        details={"classification": value.model_dump(), "language_confidence": read.language_confidence},
        run_fields={"intent": value.intent, "intent_confidence": confidence, "confidence_band": band,
                    "severity": severity, "language": read.language,
                    "language_confidence": read.language_confidence, "sentiment": read.sentiment,
                    "entities": read.entities},
    )


def _knowledge(ctx: RunContext) -> retrieval.Retrieval:
    return retrieval.answer_questions(ctx.inquiry.subject, ctx.inquiry.body)


def _articles(found: retrieval.Retrieval) -> list[dict[str, str]]:
    """The cited articles as the engine's FAQ answer reads them: each one's answering passages."""
    passages: dict[str, list[str]] = {}
    titles = {c["slug"]: c["title"] for c in found.citations}
    for answer in found.answers:
        if answer["passage"] not in passages.setdefault(answer["slug"], []):
            passages[answer["slug"]].append(answer["passage"])
    return [{"slug": slug, "title": titles.get(slug, slug), "body": " ".join(texts)} for slug, texts in passages.items()]


def _summary(found: retrieval.Retrieval) -> str:
    if not found.answers and not found.unanswered:
        return ""
    return (f"; {len(found.answers)} question(s) answered from the knowledge base"
            + (f", {len(found.unanswered)} not" if found.unanswered else ""))


def _knowledge_update(found: retrieval.Retrieval) -> dict[str, Any]:
    return {"kb_articles": [c["slug"] for c in found.citations], "answers": found.answers,
            "unanswered": found.unanswered}


@node(agent="faq_agent")
def faq_node(state: AgentState, ctx: RunContext) -> StepResult:
    """Answer each of the inquiry's questions from the knowledge base (the passages that answer);
    escalate when a question has no answer."""
    found = _knowledge(ctx)
    articles = _articles(found)
    outcome = ctx.engine.answer_faq(**inquiry_text(ctx), articles=articles)
    answer = outcome.value
    answered = answer.answerable and bool(answer.answer.strip())
    reasons = policy.reasons_of(state) + policy.knowledge_reasons(
        answered=answered, articles_found=bool(articles), unanswered=found.unanswered)
    used = [a["slug"] for a in articles]
    return StepResult(
        update={**_knowledge_update(found), "faq_answer": answer.answer if answered else "",
                "escalation_reasons": policy.stored(reasons), "fallbacks": fallbacks(state, outcome, "faq_node")},
        action=(f"Answered from the knowledge base ({', '.join(used)})" if answered
                else "The knowledge base has no answer")
        + (f"; {len(found.unanswered)} question(s) unanswered" if found.unanswered and answered else ""),
        output=answer.answer[:2000], outcome=outcome,
        inputs={"questions": found.questions},
        details={"answerable": answered, "answers": found.answers, "unanswered": found.unanswered},
        run_fields={"citations": found.citations if answered else []},
    )


@node(agent="lead_agent")
def lead_node(state: AgentState, ctx: RunContext) -> StepResult:
    """Score the lead from its buying signals and keep the score on the sender's contact; answer
    the questions the knowledge base can (a sales inquiry asking about SOC 2 gets that answer)."""
    explicit = builtin.lead_signals(ctx.inquiry.subject, ctx.inquiry.body)
    outcome = ctx.engine.lead_signals(**inquiry_text(ctx))
    model = outcome.value
    # What the text states explicitly wins; the model only fills gaps (its values were validated).
    seats = explicit.seats if explicit.seats >= 0 else model.seats
    budget = explicit.budget if explicit.budget >= 0 else model.budget
    timeline = explicit.timeline if explicit.timeline != "unknown" else model.timeline
    urgent = explicit.urgent or model.urgent
    prior = selectors.contact_prior_inquiries(email=ctx.inquiry.sender_email, exclude_run_id=ctx.run_id)
    scored = policy.lead_score(seats=seats, budget=budget, timeline=timeline, urgent=urgent,
                               prior_inquiries=prior, intent=state["intent"])
    signals = {"seats": seats, "budget": budget, "timeline": timeline, "urgent": urgent,
               "prior_inquiries": prior, "points": scored.points}
    found = _knowledge(ctx)
    return StepResult(
        update={"lead_score": scored.score, "lead_tier": scored.tier, "seats": seats, **_knowledge_update(found),
                "fallbacks": fallbacks(state, outcome, "lead_node")},
        action=f"Lead scored {scored.score} ({scored.tier})" + _summary(found),
        output=", ".join(f"{k} +{v}" for k, v in scored.points.items()) or "no buying signals",
        outcome=outcome, details={"signals": signals, "answers": found.answers, "unanswered": found.unanswered},
        run_fields={"lead_score": scored.score, "lead_tier": scored.tier, "citations": found.citations},
        statements=(services.lead_score_statements(ctx.lease, score=scored.score, tier=scored.tier, signals=signals)
                    if ctx.lease else []),
    )


_SEVERITY_ORDER = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


@node(agent="support_agent")
def support_node(state: AgentState, ctx: RunContext) -> StepResult:
    """Assess the support request's severity (escalate when high or critical); answer the
    questions the knowledge base can."""
    outcome = ctx.engine.assess_support(**inquiry_text(ctx), intent=state["intent"])
    floor, _ = builtin.severity_of(f"{ctx.inquiry.subject}\n{ctx.inquiry.body}", state["intent"])
    # Explicit words ("production down", "data breach") set a floor no model can lower.
    severity = max(outcome.value.severity, state.get("severity") or Severity.LOW, floor, key=_SEVERITY_ORDER.index)
    reasons = policy.reasons_of(state) + policy.severity_reasons(severity)
    found = _knowledge(ctx)
    return StepResult(
        update={"severity": str(severity), "support_summary": outcome.value.summary, **_knowledge_update(found),
                "escalation_reasons": policy.stored(reasons),
                "fallbacks": fallbacks(state, outcome, "support_node")},
        action=f"Severity {severity}" + _summary(found), output=outcome.value.summary, outcome=outcome,
        details={"answers": found.answers, "unanswered": found.unanswered},
        run_fields={"severity": str(severity), "citations": found.citations},
    )


def _reply_context(state: AgentState) -> tuple[str, dict[str, Any]]:
    escalated = policy.should_escalate(state)
    facts = [f"Intent: {state.get('intent')}"]
    if state.get("language"):
        facts.append(f"The sender writes in: {state['language']} (ISO 639-1)")
    if state.get("faq_answer"):
        facts.append(f"Answer from our knowledge base: {state['faq_answer']}")
    answers = [] if state.get("family") == Family.FAQ else list(state.get("answers") or [])
    for answer in answers:
        facts.append(f"The sender also asked {prompts.quoted(answer['question'])}. Our knowledge base says: "
                     f"{answer['passage']}")
    for question in state.get("unanswered") or []:
        facts.append(f"No article answers {prompts.quoted(question)}: say a colleague will follow up on it")
    entities = state.get("entities") or {}
    facts += [f"Stated in the inquiry: {fact}"
              for fact in reply_safety.entity_literals(entities) + reply_safety.entity_facts(entities)]
    if state.get("lead_tier"):
        facts.append(f"Lead tier: {state['lead_tier']} (hot: sales calls today; warm: within one business day)")
    if state.get("seats", -1) > 0:
        facts.append(f"Team size stated: {state['seats']} seats")
    if state.get("severity"):
        facts.append(f"Severity: {state['severity']} (critical: an engineer is on it now; high: update within "
                     "four business hours; otherwise within one business day)")
    if escalated:
        facts.append("A team member will review this personally before anything else is promised.")
    args = {"faq_answer": state.get("faq_answer", ""), "lead_tier": state.get("lead_tier", ""),
            "severity": state.get("severity", ""), "escalated": escalated, "seats": state.get("seats", -1),
            "language": state.get("language") or "en", "answers": answers,
            "unanswered": list(state.get("unanswered") or [])}
    return "\n".join(facts), args


@node(agent="responder")
def synthesize_response_node(state: AgentState, ctx: RunContext) -> StepResult:
    """Draft the reply that log_audit sends, in the sender's language, and check that it names only
    what the run's context does (else it is held for an operator: reply_unverified)."""
    context, args = _reply_context(state)
    outcome = ctx.engine.draft_reply(**inquiry_text(ctx), intent=state["intent"], context=context, template_args=args)
    body = outcome.value.body.strip()
    entities = state.get("entities") or {}
    failures = reply_safety.grounding_failures(body, lambda: reply_safety.context_texts(
        slugs=state.get("kb_articles") or [], sender_email=ctx.inquiry.sender_email,
        facts=reply_safety.entity_facts(entities)), literals=reply_safety.entity_literals(entities))
    # An Ollama run whose draft fell back to the built-in engine: in English, if the templates lack the language.
    language = state.get("language", "")
    held = policy.grounding_reasons(failures) + (policy.language_reasons(
        language=language, backend=outcome.backend, builtin_writes_it=builtin.reply_language(language) == language)
        if outcome.fallback else [])
    if held:
        reasons = policy.reasons_of(state) + held
        return StepResult(
            update={"draft": body, "escalation_reasons": policy.stored(reasons),
                    "fallbacks": fallbacks(state, outcome, "synthesize")},
            action="Drafted the reply; held: " + policy.joined(held)[:300], output=body,
            outcome=outcome, run_fields={"draft_response": body},
            details={"unverified": [str(f) for f in failures]},
        )
    return StepResult(
        update={"draft": body, "final_response": body, "fallbacks": fallbacks(state, outcome, "synthesize")},
        action="Drafted the reply", output=body, outcome=outcome,
        run_fields={"draft_response": body, "final_response": body},
    )


@node(agent="handoff")
def handoff_node(state: AgentState, ctx: RunContext) -> StepResult:
    """Hand the run to an operator: a summary with each rule's next step, and a draft no one is sent yet."""
    summary = handoff_summary(state, inquiry=ctx.inquiry, run_id=ctx.run_id)
    reasons = policy.reasons_of(state)
    outcome = None
    if state.get("draft"):  # drafted already, and held (reply_unverified): the operator sees that draft
        draft = state["draft"]
        found = list(state.get("fallbacks") or [])
    else:
        context, args = _reply_context(state)
        outcome = ctx.engine.draft_reply(**inquiry_text(ctx), intent=state["intent"], context=context,
                                         template_args=args)
        draft = outcome.value.body.strip()
        found = fallbacks(state, outcome, "handoff")
    # A sender with ESCALATIONS_PER_SENDER_OPEN open escalations already: this one joins the
    # oldest of them instead of taking another place in the queue.
    open_count, oldest = selectors.sender_open_escalations(email=ctx.inquiry.sender_email, exclude_run_id=ctx.run_id)
    joined = oldest if open_count >= settings.ESCALATIONS_PER_SENDER_OPEN else None
    action = "Handed off to an operator: " + ", ".join(r.rule for r in reasons)
    return StepResult(
        update={"draft": draft, "escalated": True, "fallbacks": found},
        action=action + (f"; joined the sender's open escalation {joined} ({open_count} open)" if joined else ""),
        output=summary, outcome=outcome,
        run_fields={"escalate": True, "escalation_reason": policy.joined(reasons),
                    "escalation_reasons": policy.stored(reasons), "handoff_summary": summary,
                    "draft_response": draft, "joined_escalation_id": joined},
    )


@node(agent="auditor")
def log_audit(state: AgentState, ctx: RunContext) -> StepResult:
    """Send the customer the reply (unless the run escalates) and record the sender in the CRM."""
    intent = state.get("intent", "")
    statements = services.contact_statements(ctx.lease, intent=intent)
    if statements is None:  # a replay joins its original's contact
        services.contact_record_inquiry(run_id=ctx.run_id, intent=intent)
        statements = []
    escalated = policy.should_escalate(state)
    email, held, update, fields = None, [], {}, {}
    if not escalated and state.get("final_response"):
        if ctx.lease.run.replay_of_id:  # the original may have replied already: an operator decides
            held = [policy.reason(policy.REPLAY_NEEDS_APPROVAL, "the reply of a replayed run waits for approval")]
        else:
            attempt = services.reply_send_once(ctx.lease, body=state["final_response"])
            email, statements = attempt.email, statements + attempt.statements
            held = [policy.reason(policy.REPLY_THROTTLED, attempt.held)] if attempt.held else []
    if held:  # the draft waits for an operator, as any escalation's does
        reasons = policy.reasons_of(state) + held
        update = {"escalation_reasons": policy.stored(reasons), "escalated": True}
        fields = {"escalate": True, "escalation_reason": policy.joined(reasons), "final_response": "",
                  "escalation_reasons": update["escalation_reasons"],
                  "handoff_summary": handoff_summary({**state, **update}, inquiry=ctx.inquiry, run_id=ctx.run_id)}
        action = "Held the reply for an operator: " + policy.joined(held)
    elif escalated:
        action = "Escalated: no reply is sent until an operator approves it"
    elif email is not None:
        action = f"Reply {email.status} to {email.to}"
    else:
        action = "No reply to send"
    return StepResult(
        update=update, action=action, output="", statements=statements, run_fields=fields,
        details={"email_id": email.pk if email else None, "email_status": email.status if email else "",
                 "fallbacks": state.get("fallbacks") or []},
    )
