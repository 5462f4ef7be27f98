"""The workflow (docs/workflow.md): a LangGraph graph, run with `thread_id = run_id` on the
PostgreSQL checkpointer.

    classify_intent ─route_by_intent─▶ faq_node | lead_node | support_node
        ─route_after_agent─▶ handoff_node | synthesize_response_node ─▶ log_audit (sends the reply)

The nodes are in nodes.py, what they are made of (state, context, step recording) in steps.py.
Whether a run escalates is `policy.should_escalate(state)`.
"""

from langgraph.graph import END, START, StateGraph

from inquiries.models import Family

from . import cpu_guard, policy
from .nodes import (
    classify_intent,
    faq_node,
    handoff_node,
    lead_node,
    log_audit,
    support_node,
    synthesize_response_node,
)
from .steps import AgentState, RunContext

NODES = (classify_intent, faq_node, lead_node, support_node, handoff_node, synthesize_response_node, log_audit)


def route_by_intent(state: AgentState) -> str:
    """Route to the agent of the intent's family (to the handoff when the classification went over its CPU budget)."""
    if cpu_guard.over_budget(state):
        return "handoff_node"
    return {Family.FAQ: "faq_node", Family.SALES: "lead_node", Family.SUPPORT: "support_node"}[state["family"]]


def route_after_agent(state: AgentState) -> str:
    """Hand off to an operator when the policy says so, otherwise draft the reply."""
    return "handoff_node" if policy.should_escalate(state) else "synthesize_response_node"


def route_after_reply(state: AgentState) -> str:
    """A drafted reply that failed its check goes to an operator; otherwise it is sent."""
    return "handoff_node" if policy.should_escalate(state) else "log_audit"


def build_graph(checkpointer=None):
    graph = StateGraph(AgentState, context_schema=RunContext)
    for fn in NODES:
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
