"""Linear time on untrusted text (docs/reliability.md): a sales inquiry built to make the lead
signals backtrack costs well under a second of CPU, and a node over its CPU budget
(NODE_CPU_BUDGET_SECONDS) hands the run to an operator instead of holding the worker."""

import time

import pytest
from django.core import mail

from core import cpu_budget
from core.redis_client import get_redis
from inquiries.models import OutboundEmail, Run
from orchestration.engines import builtin
from testutils.workflow import accept, execute, load_knowledge_base

BODIES = {
    "digits": "1" * 5000,
    "thousands": ("1,000," * 834)[:5000],
    "spaced digits": ("1 " * 2500)[:5000],
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_a_hostile_sales_body_reads_its_signals_in_well_under_a_second_of_cpu(name):
    body = BODIES[name]
    builtin.get_classifier()  # trained once per process, not the inquiry's cost
    started = time.process_time()
    builtin.classify("Pricing for our team", body)
    for _ in range(2):  # the lead node reads them once itself, once through the engine
        signals = builtin.lead_signals("Pricing for our team", body)
    builtin.severity_of(f"Pricing for our team\n{body}", "sales")
    assert time.process_time() - started < 1.0
    assert signals.seats in (-1, 1000, 1)  # nothing absurd is read from the noise


def _sales_run_nodes(run: Run) -> list[str]:
    return list(run.steps.order_by("sequence").values_list("node", flat=True))


@pytest.fixture
def builtin_workflow(settings):
    settings.LLM_BACKEND = "builtin"
    get_redis().flushdb()
    load_knowledge_base()
    builtin.get_classifier()


@pytest.mark.django_db(transaction=True)
def test_a_5000_digit_sales_inquiry_runs_the_whole_workflow_in_under_a_second_of_cpu(builtin_workflow):
    run = accept(subject="Pricing for 1,000 seats", body="We want a quote. " + "1" * 4983)
    started = time.process_time()
    assert execute(run) in ("completed", "escalated")
    assert time.process_time() - started < 1.0
    assert "cpu_budget" not in run.escalation_reason


def test_check_raises_only_inside_a_spent_budget():
    cpu_budget.check("outside")  # no budget: nothing to check
    with cpu_budget.limit(0.01):
        with cpu_budget.excluded():
            _burn(0.05)
        cpu_budget.check("excluded work does not count")
        _burn(0.05)
        with pytest.raises(cpu_budget.CPUBudgetExceeded, match="over the CPU budget"):
            cpu_budget.check("spent")


def _burn(seconds: float) -> None:
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("where", ["lead_signals", "classify"])
def test_a_node_over_its_cpu_budget_escalates_and_sends_nothing(builtin_workflow, settings, monkeypatch, where):
    settings.NODE_CPU_BUDGET_SECONDS = 0.05
    original = getattr(builtin, where)

    def slow(*args, **kwargs):
        for _ in range(1000):  # cooperative: the work checks its budget between its steps
            _burn(0.01)
            cpu_budget.check(where)
        return original(*args, **kwargs)

    monkeypatch.setattr(builtin, where, slow)
    run = accept(subject="Pricing", body="We want to buy AutoFlow for 120 agents. Budget is $50,000.")
    started = time.monotonic()

    assert execute(run) == "escalated"

    assert time.monotonic() - started < 30
    assert "cpu_budget:" in run.escalation_reason
    nodes = _sales_run_nodes(run)
    assert nodes[-2:] == ["handoff_node", "log_audit"]
    assert nodes[0] == "classify_intent"
    if where == "classify":
        assert nodes == ["classify_intent", "handoff_node", "log_audit"]
    assert "Read the inquiry and reply yourself" in run.handoff_summary
    assert mail.outbox == []
    assert not OutboundEmail.objects.filter(run=run).exists()
