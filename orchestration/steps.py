"""What every workflow node is made of: the graph's state (`AgentState`), what a run's nodes share
and the checkpoint must not hold (`RunContext`), what a node answers (`StepResult`), and the
`node` decorator that records each node's step.

Every node, as it finishes, records its step through `inquiries.services.run_step_record`: one
PostgreSQL round trip (step row, run fields, `step` event, the previous node's checkpoint, all
guarded by the run's lease), then one Redis round trip (snapshot, step list, live event). A node's
step has a fixed key, so a run resumed after a crash that re-enters a node whose step is already
recorded returns that step's stored result instead of running it again: side effects (CRM,
e-mail) happen once. The state keeps ids and decisions, not the inquiry text (loaded per run).

A context without a lease (`RunContext.lease is None`) is a dry run: `manage.py evaluate` calls
the same node functions (`run_node.step`) and records nothing (orchestration/evaluation_gate.py).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypedDict

from django.conf import settings
from django.utils import timezone
from langchain_core.messages import AIMessage
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime

from core import cpu_budget, metrics, tracing
from core.timestamps import utc_iso
from inquiries import services
from inquiries.models import Inquiry, RunEventType
from inquiries.services import Lease

from . import cpu_guard
from .engines.engine import Engine, Outcome


class AgentState(TypedDict, total=False):
    run_id: str
    messages: Annotated[list, add_messages]
    intent: str
    family: str
    intent_confidence: float
    confidence_band: str
    severity: str
    language: str
    sentiment: str
    entities: dict[str, list]
    # {rule, detail} dicts (policy.Reason.as_dict); checkpoints written before hold "rule: detail"
    # strings: read them through policy.reasons_of.
    escalation_reasons: list[dict[str, str]]
    fallbacks: list[str]
    kb_articles: list[str]
    # The inquiry's questions the knowledge base answers ({question, slug, title, passage}) and
    # those it does not (orchestration/retrieval.py).
    answers: list[dict[str, str]]
    unanswered: list[str]
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

    lease: Lease | None
    engine: Engine
    # How long each step extends the run's lease (the worker's heartbeat does too).
    hold_seconds: float
    # The checkpoint statements waiting to travel with the run's next step (see checkpointer.py).
    carried: Callable[[], list] = list
    # Outputs of the steps recorded before this attempt started (a resumed run), by step key.
    recorded: dict[str, dict] = field(default_factory=dict)
    # A dry run's inquiry and id (no lease): manage.py evaluate.
    dry_inquiry: Inquiry | None = None
    dry_run_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def run_id(self) -> str:
        return str(self.lease.run_id) if self.lease else self.dry_run_id

    @property
    def inquiry(self) -> Inquiry:
        return self.lease.run.inquiry if self.lease else self.dry_inquiry

    @property
    def attempt(self) -> int:
        return self.lease.attempt if self.lease else 1


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
    recorded (a resumed run), otherwise time it and record its step. `run_node.step` is `fn`."""
    def decorate(fn: Callable[[AgentState, RunContext], StepResult]):
        name = fn.__name__

        # Not functools.wraps: LangGraph reads the signature to inject `runtime`.
        def run_node(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
            ctx = runtime.context
            stored = ctx.recorded.get(name)
            if stored is not None:
                return {**stored.get("state", {}), "messages": [AIMessage(content=f"{name}: (resumed)", name=name)]}
            # One span per node, a child of the run's (core/tracing.py); its model calls nest in it.
            with tracing.span(f"node {name}", attributes={"autoflow.node": name, "autoflow.agent": agent,
                                                          "autoflow.run_id": ctx.run_id}) as span:
                return _run_step(fn, name, agent, state, ctx, span)

        run_node.__name__ = run_node.__qualname__ = name
        run_node.__doc__ = fn.__doc__
        run_node.step = fn
        return run_node

    return decorate


def _run_step(fn: Callable, name: str, agent: str, state: AgentState, ctx: RunContext, span) -> dict[str, Any]:
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
    tracing.set_attributes(span, **{"autoflow.llm_backend": meta["llm_backend"], "autoflow.model": meta["model"],
                                    "autoflow.fallback": result.outcome.failure if fallback else None})
    state_update = {k: _jsonable(v) for k, v in result.update.items()}
    finished = timezone.now()
    services.run_step_record(
        ctx.lease, key=name, node=name, agent=result.agent or agent, action=result.action,
        output=result.output, inputs=result.inputs,
        outputs={"state": state_update, **result.details,
                 **({"fallback": result.outcome.failure, "fallback_detail": result.outcome.detail}
                    if fallback else {})},
        started_at=started, finished_at=finished, run_fields=result.run_fields, notes=notes,
        hold_seconds=ctx.hold_seconds, statements=result.statements, carried=ctx.carried(), **meta,
    )
    metrics.node_finished(name, (finished - started).total_seconds(),
                          fallback=result.outcome.failure if fallback else "")
    return {**state_update, "messages": [AIMessage(content=f"{name}: {result.action}", name=name)]}


def inquiry_text(ctx: RunContext) -> dict[str, str]:
    inquiry = ctx.inquiry
    return {"sender_name": inquiry.sender_name, "subject": inquiry.subject, "body": inquiry.body}


def fallbacks(state: AgentState, outcome: Outcome, node_name: str) -> list[str]:
    found = list(state.get("fallbacks") or [])
    if outcome.fallback:
        found.append(f"{node_name}: {outcome.failure}")
    return found
