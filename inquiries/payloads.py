"""The wire format of runs: what the API, Redis snapshots, WebSocket events and the console's
live updates carry. One dict per shape, built here and nowhere else (docs/api.md, "Shapes").

The field lists below are the definition: the API schemas (inquiries/api/v1/schemas.py), the
step event, the admin's CSV export and the contract test are checked against them
(tests/test_payloads.py)."""

from typing import Any

from core.timestamps import utc_iso

from .models import Run, RunStep

STEP_FIELDS = (
    "agent", "action", "output", "timestamp", "node", "sequence", "duration_ms", "model", "llm_backend",
    "prompt_tokens", "completion_tokens", "inputs", "outputs", "error", "attempt",
)
RUN_STATUS_FIELDS = (
    "run_id", "status", "intent", "intent_confidence", "current_agent", "agent_steps", "final_response",
    "lead_score", "lead_tier", "escalate", "escalation_reason", "escalation_reasons", "created_at",
    "updated_at", "error", "sender_name", "sender_email", "subject", "model_version", "workflow_version",
    "llm_backend", "confidence_band", "language", "language_confidence", "sentiment", "entities", "citations",
)
RUN_LIST_FIELDS = (
    "run_id", "status", "intent", "sender_name", "sender_email", "subject", "created_at", "updated_at",
    "escalate", "lead_tier", "confidence_band", "language",
)
# What a `step` event says of its run besides the step (the terminal event carries all of it).
STEP_EVENT_RUN_FIELDS = ("run_id", "status", "current_agent", "intent", "intent_confidence", "updated_at")


def step_payload(step: RunStep) -> dict[str, Any]:
    return {
        "agent": step.agent, "action": step.action, "output": step.output,
        "timestamp": utc_iso(step.finished_at), "node": step.node, "sequence": step.sequence,
        "duration_ms": step.duration_ms, "model": step.model, "llm_backend": step.llm_backend,
        "prompt_tokens": step.prompt_tokens, "completion_tokens": step.completion_tokens,
        "inputs": step.inputs, "outputs": step.outputs, "error": step.error, "attempt": step.attempt,
    }


def run_status_payload(run: Run, steps: list[RunStep] | None = None) -> dict[str, Any]:
    """The public RunStatus of a run: the same dict goes to Redis, the API and WebSockets."""
    if steps is None:
        steps = list(run.steps.order_by("sequence"))
    inquiry = run.inquiry
    return {
        "run_id": str(run.id), "status": run.status, "intent": run.intent,
        "intent_confidence": run.intent_confidence, "current_agent": run.current_agent,
        "agent_steps": [step_payload(s) for s in steps], "final_response": run.final_response,
        "lead_score": run.lead_score, "lead_tier": run.lead_tier, "escalate": run.escalate,
        "escalation_reason": run.escalation_reason, "escalation_reasons": run.escalation_reasons,
        "created_at": utc_iso(run.created_at), "updated_at": utc_iso(run.updated_at), "error": run.error,
        "sender_name": inquiry.sender_name, "sender_email": inquiry.sender_email, "subject": inquiry.subject,
        "model_version": run.model_version, "workflow_version": run.workflow_version,
        "llm_backend": run.llm_backend, "confidence_band": run.confidence_band, "language": run.language,
        "language_confidence": run.language_confidence, "sentiment": run.sentiment or "unknown",
        "entities": run.entities or {}, "citations": run.citations or [],
    }


def step_event_run(payload: dict[str, Any]) -> dict[str, Any]:
    """The part of a RunStatus that a `step` event carries."""
    return {name: payload[name] for name in STEP_EVENT_RUN_FIELDS}


def run_list_item(run: Run) -> dict[str, Any]:
    return {
        "run_id": str(run.id), "status": run.status, "intent": run.intent,
        "sender_name": run.inquiry.sender_name, "sender_email": run.inquiry.sender_email,
        "subject": run.inquiry.subject, "created_at": utc_iso(run.created_at), "updated_at": utc_iso(run.updated_at),
        "escalate": run.escalate, "lead_tier": run.lead_tier, "confidence_band": run.confidence_band,
        "language": run.language,
    }
