"""The workflow (docs/workflow.md): a LangGraph graph, run with `thread_id = run_id` on the
PostgreSQL checkpointer.

    classify_intent ─route_by_intent─▶ faq_node | lead_node | support_node
        ─route_after_agent─▶ handoff_node | synthesize_response_node ─▶ log_audit (sends the reply)

Whether a run escalates is `policy.should_escalate(state)`; the nodes only add the `Reason`s the
policy gives them (kept in the state as `{rule, detail}` dicts).

Every node, as it finishes, records its step through `inquiries.services.run_step_record`: one
PostgreSQL round trip (step row, run fields, `step` event, the previous node's checkpoint, all
guarded by the run's lease), then one Redis round trip (snapshot, step list, live event). A node's
step has a fixed key, so a run resumed after a crash that re-enters a node whose step is already
recorded returns that step's stored result instead of running it again: side effects (CRM,
e-mail) happen once. The state keeps ids and decisions, not the inquiry text (loaded per run).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypedDict

from django.conf import settings
from django.utils import timezone
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime

from core import cpu_budget
from core.timestamps import utc_iso
from inquiries import selectors, services
from inquiries.models import INTENT_FAMILY, Family, Inquiry, RunEventType, Severity
from inquiries.services import Lease

from . import cpu_guard, policy, reply_safety
from .engines import builtin
from .engines.engine import Engine, Outcome
from .handoff import handoff_summary


class AgentState(TypedDict, total=False):
    run_id: str
    messages: Annotated[list, add_messages]
    intent: str
    family: str
    intent_confidence: float
    severity: str
    # {rule, detail} dicts (policy.Reason.as_dict); checkpoints written before hold "rule: detail"
    # strings: read them through policy.reasons_of.
    escalation_reasons: list[dict[str, str]]
    fallbacks: list[str]
    kb_articles: list[str]
    faq_answer: str
    lead_score: int
    lead_tier: str
    seats: int
    support_summary: str
    draft: str
    final_response: str
    escalated: bool


@dataclass
class RunContext:
    """What every node of one run needs and the checkpoint must not hold."""

    lease: Lease
    engine: Engine
    # How long each step extends the run's lease (the worker's heartbeat does too).
    hold_seconds: float
    # The checkpoint statements waiting to travel with the run's next step (see checkpointer.py).
    carried: Callable[[], list] = list
    # Outputs of the steps recorded before this attempt started (a resumed run), by step key.
    recorded: dict[str, dict] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return str(self.lease.run_id)

    @property
    def inquiry(self) -> Inquiry:
        return self.lease.run.inquiry

    @property
    def attempt(self) -> int:
        return self.lease.attempt


@dataclass
class StepResult:
    update: dict[str, Any]
    action: str
    output: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome | None = None
    run_fields: dict[str, Any] = field(default_factory=dict)
    agent: str = ""
    # The step's side effects, as statements that commit with its step (inquiries/services/crm.py, email.py).
    statements: list = field(default_factory=list)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    return value


def node(agent: str) -> Callable:
    """Make a workflow node of `fn(state, ctx) -> StepResult`: skip it when its step is already
    recorded (a resumed run), otherwise time it and record its step."""
    def decorate(fn: Callable[[AgentState, RunContext], StepResult]):
        name = fn.__name__

        # Not functools.wraps: LangGraph reads the signature to inject `runtime`.
        def run_node(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
            ctx = runtime.context
            stored = ctx.recorded.get(name)
            if stored is not None:
                return {**stored.get("state", {}), "messages": [AIMessage(content=f"{name}: (resumed)", name=name)]}
            started = timezone.now()
            try:
                with cpu_budget.limit(settings.NODE_CPU_BUDGET_SECONDS):
                    result = fn(state, ctx)
            except cpu_budget.CPUBudgetExceeded as exc:  # the safe path: a human, no reply (cpu_guard.py)
                result = StepResult(update=cpu_guard.over_budget_update(name, state, exc),
                                    action="Over its CPU budget: handed to an operator", output=str(exc))
            meta = result.outcome.step_meta() if result.outcome else {"llm_backend": "", "model": ""}
            fallback = bool(result.outcome and result.outcome.fallback)
            notes = [(RunEventType.FALLBACK, f"{name}: Ollama failed ({result.outcome.failure}); the built-in "
                      "engine answered", {"node": name, "failure": result.outcome.failure,
                                          "detail": result.outcome.detail})] if fallback else []
            state_update = {k: _jsonable(v) for k, v in result.update.items()}
            services.run_step_record(
                ctx.lease, key=name, node=name, agent=result.agent or agent, action=result.action,
                output=result.output, inputs=result.inputs,
                outputs={"state": state_update, **result.details,
                         **({"fallback": result.outcome.failure, "fallback_detail": result.outcome.detail}
                            if fallback else {})},
                started_at=started, finished_at=timezone.now(), run_fields=result.run_fields, notes=notes,
                hold_seconds=ctx.hold_seconds, statements=result.statements, carried=ctx.carried(), **meta,
            )
            return {**state_update, "messages": [AIMessage(content=f"{name}: {result.action}", name=name)]}

        run_node.__name__ = run_node.__qualname__ = name
        run_node.__doc__ = fn.__doc__
        return run_node

    return decorate


def _text(ctx: RunContext) -> dict[str, str]:
    inquiry = ctx.inquiry
    return {"sender_name": inquiry.sender_name, "subject": inquiry.subject, "body": inquiry.body}


def _fallbacks(state: AgentState, outcome: Outcome, node_name: str) -> list[str]:
    found = list(state.get("fallbacks") or [])
    if outcome.fallback:
        found.append(f"{node_name}: {outcome.failure}")
    return found


@node(agent="classifier")
def classify_intent(state: AgentState, ctx: RunContext) -> StepResult:
    """Classify the inquiry's intent (and a support severity); escalate on low confidence or a bad fallback."""
    outcome = ctx.engine.classify(**_text(ctx))
    value = outcome.value
    confidence = policy.fallback_confidence(value.confidence) if outcome.fallback else value.confidence
    family = str(INTENT_FAMILY[value.intent])
    reasons = policy.classification_reasons(confidence=confidence,
                                            fallback_failure=outcome.failure if outcome.fallback else "")
    reasons += policy.injection_reasons(reply_safety.injection_signals(ctx.inquiry.subject, ctx.inquiry.body))
    severity = value.severity if family == Family.SUPPORT else ""
    return StepResult(
        update={"intent": value.intent, "family": family, "intent_confidence": confidence,
                "severity": severity, "escalation_reasons": policy.stored(reasons), "fallbacks": _fallbacks(state, outcome, "classify_intent")},
        action=f"Classified as {value.intent} ({confidence:.2f}), routed to {family}",
        output=value.reasoning, outcome=outcome, inputs={"subject": ctx.inquiry.subject},
        details={"classification": value.model_dump()},
        run_fields={"intent": value.intent, "intent_confidence": confidence, "severity": severity},
    )


def route_by_intent(state: AgentState) -> str:
    """Route to the agent of the intent's family (to the handoff when the classification went over its CPU budget)."""
    if cpu_guard.over_budget(state):
        return "handoff_node"
    return {Family.FAQ: "faq_node", Family.SALES: "lead_node", Family.SUPPORT: "support_node"}[state["family"]]


@node(agent="faq_agent")
def faq_node(state: AgentState, ctx: RunContext) -> StepResult:
    """Answer from the knowledge base; escalate when it has no answer."""
    text = f"{ctx.inquiry.subject}\n{ctx.inquiry.body}"
    found = selectors.knowledge_search(text=text, limit=3)
    articles = [a for a in found if a["rank"] >= settings.KB_MIN_RANK]
    outcome = ctx.engine.answer_faq(**_text(ctx), articles=articles)
    answer = outcome.value
    reasons = policy.reasons_of(state) + policy.knowledge_reasons(
        answered=answer.answerable and bool(answer.answer.strip()), articles_found=bool(articles))
    used = [a["slug"] for a in articles]
    return StepResult(
        update={"kb_articles": used, "faq_answer": answer.answer if answer.answerable else "",
                "escalation_reasons": policy.stored(reasons), "fallbacks": _fallbacks(state, outcome, "faq_node")},
        action=(f"Answered from the knowledge base ({', '.join(used)})" if answer.answerable
                else "The knowledge base has no answer"),
        output=answer.answer[:2000], outcome=outcome,
        inputs={"search": [{"slug": a["slug"], "rank": a["rank"]} for a in found]},
        details={"answerable": answer.answerable},
    )


@node(agent="lead_agent")
def lead_node(state: AgentState, ctx: RunContext) -> StepResult:
    """Score the lead from its buying signals and keep the score on the sender's contact."""
    explicit = builtin.lead_signals(ctx.inquiry.subject, ctx.inquiry.body)
    outcome = ctx.engine.lead_signals(**_text(ctx))
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
    return StepResult(
        update={"lead_score": scored.score, "lead_tier": scored.tier, "seats": seats,
                "fallbacks": _fallbacks(state, outcome, "lead_node")},
        action=f"Lead scored {scored.score} ({scored.tier})",
        output=", ".join(f"{k} +{v}" for k, v in scored.points.items()) or "no buying signals",
        outcome=outcome, details={"signals": signals},
        run_fields={"lead_score": scored.score, "lead_tier": scored.tier},
        statements=services.lead_score_statements(ctx.lease, score=scored.score, tier=scored.tier, signals=signals),
    )


_SEVERITY_ORDER = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


@node(agent="support_agent")
def support_node(state: AgentState, ctx: RunContext) -> StepResult:
    """Assess the support request's severity; escalate when it is high or critical."""
    outcome = ctx.engine.assess_support(**_text(ctx), intent=state["intent"])
    floor, _ = builtin.severity_of(f"{ctx.inquiry.subject}\n{ctx.inquiry.body}", state["intent"])
    # Explicit words ("production down", "data breach") set a floor no model can lower.
    severity = max(outcome.value.severity, state.get("severity") or Severity.LOW, floor, key=_SEVERITY_ORDER.index)
    reasons = policy.reasons_of(state) + policy.severity_reasons(severity)
    return StepResult(
        update={"severity": str(severity), "support_summary": outcome.value.summary,
                "escalation_reasons": policy.stored(reasons),
                "fallbacks": _fallbacks(state, outcome, "support_node")},
        action=f"Severity {severity}", output=outcome.value.summary, outcome=outcome,
        run_fields={"severity": str(severity)},
    )


def route_after_agent(state: AgentState) -> str:
    """Hand off to an operator when the policy says so, otherwise draft the reply."""
    return "handoff_node" if policy.should_escalate(state) else "synthesize_response_node"


def _reply_context(state: AgentState) -> tuple[str, dict[str, Any]]:
    escalated = policy.should_escalate(state)
    facts = [f"Intent: {state.get('intent')}"]
    if state.get("faq_answer"):
        facts.append(f"Answer from our knowledge base: {state['faq_answer']}")
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
            "severity": state.get("severity", ""), "escalated": escalated,
            "seats": state.get("seats", -1)}
    return "\n".join(facts), args


@node(agent="responder")
def synthesize_response_node(state: AgentState, ctx: RunContext) -> StepResult:
    """Draft the reply that log_audit sends, and check that it names only what the run's context
    does (else it is held for an operator: reply_unverified)."""
    context, args = _reply_context(state)
    outcome = ctx.engine.draft_reply(**_text(ctx), intent=state["intent"], context=context, template_args=args)
    body = outcome.value.body.strip()
    failures = reply_safety.grounding_failures(body, lambda: reply_safety.context_texts(
        slugs=state.get("kb_articles") or [], sender_email=ctx.inquiry.sender_email))
    if failures:
        reasons = policy.reasons_of(state) + policy.grounding_reasons(failures)
        return StepResult(
            update={"draft": body, "escalation_reasons": policy.stored(reasons),
                    "fallbacks": _fallbacks(state, outcome, "synthesize")},
            action="Drafted the reply; held: " + ", ".join(str(f) for f in failures[:5]), output=body,
            outcome=outcome, run_fields={"draft_response": body},
            details={"unverified": [str(f) for f in failures]},
        )
    return StepResult(
        update={"draft": body, "final_response": body, "fallbacks": _fallbacks(state, outcome, "synthesize")},
        action="Drafted the reply", output=body, outcome=outcome,
        run_fields={"draft_response": body, "final_response": body},
    )


def route_after_reply(state: AgentState) -> str:
    """A drafted reply that failed its check goes to an operator; otherwise it is sent."""
    return "handoff_node" if policy.should_escalate(state) else "log_audit"


@node(agent="handoff")
def handoff_node(state: AgentState, ctx: RunContext) -> StepResult:
    """Hand the run to an operator: a summary with each rule's next step, and a draft no one is sent yet."""
    summary = handoff_summary(state, inquiry=ctx.inquiry, run_id=ctx.run_id)
    reasons = policy.reasons_of(state)
    outcome = None
    if state.get("draft"):  # drafted already, and held (reply_unverified): the operator sees that draft
        draft = state["draft"]
        fallbacks = list(state.get("fallbacks") or [])
    else:
        context, args = _reply_context(state)
        outcome = ctx.engine.draft_reply(**_text(ctx), intent=state["intent"], context=context, template_args=args)
        draft = outcome.value.body.strip()
        fallbacks = _fallbacks(state, outcome, "handoff")
    # A sender with ESCALATIONS_PER_SENDER_OPEN open escalations already: this one joins the
    # oldest of them instead of taking another place in the queue.
    open_count, oldest = selectors.sender_open_escalations(email=ctx.inquiry.sender_email, exclude_run_id=ctx.run_id)
    joined = oldest if open_count >= settings.ESCALATIONS_PER_SENDER_OPEN else None
    action = "Handed off to an operator: " + ", ".join(r.rule for r in reasons)
    return StepResult(
        update={"draft": draft, "escalated": True, "fallbacks": fallbacks},
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


def build_graph(checkpointer=None):
    graph = StateGraph(AgentState, context_schema=RunContext)
    for fn in (classify_intent, faq_node, lead_node, support_node, handoff_node, synthesize_response_node,
               log_audit):
        graph.add_node(fn.__name__, fn)
    graph.add_edge(START, "classify_intent")
    graph.add_conditional_edges("classify_intent", route_by_intent, ["faq_node", "lead_node", "support_node",
                                                                      "handoff_node"])
    for agent in ("faq_node", "lead_node", "support_node"):
        graph.add_conditional_edges(agent, route_after_agent, ["handoff_node", "synthesize_response_node"])
    graph.add_edge("handoff_node", "log_audit")
    graph.add_conditional_edges("synthesize_response_node", route_after_reply, ["handoff_node", "log_audit"])
    graph.add_edge("log_audit", END)
    return graph.compile(checkpointer=checkpointer)
