"""A node over its CPU budget (NODE_CPU_BUDGET_SECONDS, core/cpu_budget.py) hands the run to an
operator instead of holding the worker: its step records the overrun, the run escalates with the
rule `cpu_budget`, the next node is the handoff (which drafts from templates and sends nothing),
and log_audit sends no reply. Escalation is the one path that never sends an unverified reply."""

from collections.abc import Mapping
from typing import Any

from core.cpu_budget import CPUBudgetExceeded
from inquiries.models import Family, Intent

from . import policy

CPU_BUDGET = policy.CPU_BUDGET


def over_budget(state: Mapping[str, Any]) -> bool:
    return any(r.rule == CPU_BUDGET.name for r in policy.reasons_of(state))


def over_budget_update(node_name: str, state: Mapping[str, Any], exc: CPUBudgetExceeded) -> dict[str, Any]:
    """The state update of a node stopped by its budget: the reason, the fallback note and, when the
    classification itself stopped, an unclassified run (general inquiry, confidence 0)."""
    reasons = policy.reasons_of(state) + [policy.reason(CPU_BUDGET, f"{node_name}: {exc}")]
    update: dict[str, Any] = {"escalation_reasons": policy.stored(reasons),
                              "fallbacks": [*(state.get("fallbacks") or []), f"{node_name}: cpu_budget"]}
    if not state.get("intent"):
        update.update(intent=str(Intent.GENERAL_INQUIRY), family=str(Family.FAQ), intent_confidence=0.0,
                      severity="")
    return update
