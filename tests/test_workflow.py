"""The workflow end to end on the built-in engine: intake, then the task a worker runs, against
the real PostgreSQL (checkpoints included) and Redis."""

import json

import pytest
from django.core import mail
from django.utils import timezone
from django_q.models import OrmQ

from core.redis_client import get_redis
from inquiries.hotstate import run_key, steps_key
from inquiries.models import Contact, LeadScoreEntry, OutboundEmail, Run, RunEvent, RunStep
from orchestration import tasks
from orchestration.checkpointer import get_checkpointer
from testutils.workflow import accept, execute, load_knowledge_base

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _builtin(settings):
    settings.LLM_BACKEND = "builtin"
    get_redis().flushdb()
    load_knowledge_base()


def nodes(run: Run) -> list[str]:
    return list(run.steps.order_by("sequence").values_list("node", flat=True))


def test_faq_answered_from_the_knowledge_base_completes_and_replies_once():
    run = accept(subject="Free trial", body="Is there a free trial, and do I need a credit card to start it?")

    assert execute(run) == "completed"

    assert run.status == "completed"
    assert run.intent in ("faq", "general_inquiry")
    assert nodes(run) == ["classify_intent", "faq_node", "synthesize_response_node", "log_audit"]
    assert "14-day free trial" in run.final_response
    assert run.final_response.startswith("Hi Dana,")
    assert run.llm_backend == "builtin"
    assert run.llm_model == "autoflow-builtin-1"
    assert run.finished_at is not None
    assert run.lease_expires_at is None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dana@example.com"]
    assert mail.outbox[0].subject == "Re: Free trial"
    assert OutboundEmail.objects.get(run=run).status == "sent"
    contact = Contact.objects.get(email="dana@example.com")
    assert contact.inquiry_count == 1
    assert contact.last_intent == run.intent
    faq_step = run.steps.get(node="faq_node")
    assert faq_step.outputs["state"]["kb_articles"][0] == "free-trial"
    # The hot plane has the terminal snapshot and every step.
    snapshot = json.loads(get_redis().get(run_key(run.pk)))
    assert snapshot["status"] == "completed"
    assert [s["node"] for s in snapshot["agent_steps"]] == nodes(run)
    assert get_redis().llen(steps_key(run.pk)) == 4
    types = list(run.events.values_list("type", flat=True))
    # log_audit sends the reply, then records its step.
    assert types == ["received", "queued", "started", "step", "step", "step", "reply_sent", "step", "completed"]


def test_a_delivered_twice_task_does_nothing_the_second_time():
    run = accept(subject="Free trial", body="How long is the free trial?")
    execute(run)
    steps, events = RunStep.objects.filter(run=run).count(), RunEvent.objects.filter(run=run).count()

    assert execute(run) == "skipped"

    assert RunStep.objects.filter(run=run).count() == steps
    assert RunEvent.objects.filter(run=run).count() == events
    assert len(mail.outbox) == 1


def test_a_hot_lead_is_scored_from_explicit_signals():
    Contact.objects.create(email="dana@example.com", name="Dana Lee", inquiry_count=2)
    run = accept(subject="Buying for our support team",
                 body="We want to buy AutoFlow for 120 agents. Budget is $50,000 and we need to start this month.")

    assert execute(run) == "completed"

    assert run.intent in ("sales", "pricing", "upgrade", "demo_request")
    assert nodes(run)[1] == "lead_node"
    assert run.lead_tier == "hot"
    entry = LeadScoreEntry.objects.get(run=run)
    assert entry.signals["seats"] == 120
    assert entry.signals["budget"] == 50_000
    assert entry.signals["timeline"] == "now"
    assert entry.signals["prior_inquiries"] == 2
    assert run.lead_score == entry.score >= 60
    assert Contact.objects.get(email="dana@example.com").inquiry_count == 3


def test_a_critical_support_request_is_escalated_with_a_handoff_and_no_email():
    run = accept(subject="Production down",
                 body="Our production system is down since 9am and nothing works. All our customers are affected.")

    assert execute(run) == "escalated"

    assert run.status == "escalated"
    assert run.escalate
    assert run.severity == "critical"
    assert "high_severity: severity critical" in run.escalation_reason
    assert nodes(run) == ["classify_intent", "support_node", "handoff_node", "log_audit"]
    assert "Who: Dana Lee <dana@example.com>" in run.handoff_summary
    assert "high_severity: severity critical" in run.handoff_summary.split("Why a human: ")[1]
    assert "Next step:" in run.handoff_summary
    assert run.draft_response
    assert not run.final_response
    assert mail.outbox == []
    assert not OutboundEmail.objects.filter(run=run).exists()


def test_low_confidence_escalates_by_name(settings):
    settings.ESCALATION_CONFIDENCE_THRESHOLD = 0.999
    run = accept(subject="Hello", body="hmm")

    assert execute(run) == "escalated"

    assert run.escalation_reason.startswith("low_confidence: confidence")
    assert mail.outbox == []


def test_a_question_the_knowledge_base_cannot_answer_is_escalated():
    run = accept(subject="Question", body="Do you support Klingon as an interface language for the zorblax module?")
    run_state = execute(run)

    if run.intent not in ("faq", "general_inquiry"):
        pytest.fail(f"expected an FAQ-family intent, got {run.intent}")
    assert run_state == "escalated"
    assert "kb_no_answer" in run.escalation_reason


def test_a_crashed_attempt_resumes_from_its_checkpoint_without_repeating_steps(monkeypatch):
    run = accept(subject="Free trial", body="Is there a free trial, and do I need a credit card to start it?")
    from orchestration.engines import builtin

    real = builtin.draft_reply
    calls = {"n": 0}

    def crash_once(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker lost mid-node")
        return real(**kwargs)

    monkeypatch.setattr(builtin, "draft_reply", crash_once)

    with pytest.raises(RuntimeError):
        execute(run)
    run.refresh_from_db()
    assert run.status == "running"
    assert run.attempts == 1
    assert nodes(run) == ["classify_intent", "faq_node"]
    assert run.lease_owner == ""

    assert execute(run) == "completed"

    assert run.attempts == 2
    assert nodes(run) == ["classify_intent", "faq_node", "synthesize_response_node", "log_audit"]
    assert RunStep.objects.filter(run=run).count() == 4
    assert len(mail.outbox) == 1
    assert "retried" in run.events.values_list("type", flat=True)
    state = get_checkpointer().get_tuple({"configurable": {"thread_id": str(run.pk)}})
    assert state is not None


def test_a_run_out_of_attempts_ends_in_error(settings):
    run = accept(subject="Free trial", body="How long is the trial?")
    Run.objects.filter(pk=run.pk).update(attempts=settings.RUN_MAX_ATTEMPTS)

    assert execute(run) == "skipped"

    assert run.status == "error"
    assert run.error_code == "attempts_exhausted"
    assert run.events.filter(type="failed").count() == 1


def test_the_reaper_requeues_expired_leases_and_ends_exhausted_runs(settings):
    expired = accept(subject="One", body="How long is the trial?")
    exhausted = accept(subject="Two", body="How long is the trial?")
    healthy = accept(subject="Three", body="How long is the trial?")
    recent = accept(subject="Four", body="How long is the trial?")
    # Expired for longer than a whole lease: the queue did not hand its task out again.
    past = timezone.now() - timezone.timedelta(seconds=settings.RUN_LEASE_SECONDS + 5)
    Run.objects.filter(pk=expired.pk).update(attempts=1, lease_owner="dead:1", lease_expires_at=past)
    # Expired just now: its own task is about to be handed out again; the reaper leaves it.
    Run.objects.filter(pk=recent.pk).update(attempts=1, lease_owner="dead:4",
                                            lease_expires_at=timezone.now() - timezone.timedelta(seconds=5))
    Run.objects.filter(pk=exhausted.pk).update(attempts=settings.RUN_MAX_ATTEMPTS, lease_owner="dead:2",
                                               lease_expires_at=past)
    Run.objects.filter(pk=healthy.pk).update(attempts=1, lease_owner="alive:3",
                                             lease_expires_at=timezone.now() + timezone.timedelta(minutes=5))
    queued = OrmQ.objects.count()

    assert tasks.reap_runs() == {"requeued": 1, "failed": 1}

    expired.refresh_from_db()
    exhausted.refresh_from_db()
    healthy.refresh_from_db()
    assert expired.status == "running"
    assert expired.lease_expires_at is None
    assert expired.events.filter(type="lease_expired").count() == 1
    assert OrmQ.objects.count() == queued + 1
    assert exhausted.status == "error"
    assert exhausted.error_code == "attempts_exhausted"
    assert healthy.lease_owner == "alive:3"
    recent.refresh_from_db()
    assert (recent.lease_owner, recent.events.filter(type="lease_expired").count()) == ("dead:4", 0)
    # The re-queued run then finishes normally.
    assert execute(expired) == "completed"


def test_a_starting_worker_queues_again_the_runs_of_dead_workers_of_its_machine_at_once():
    import subprocess
    import sys

    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # its pid names no process now
    prefix = tasks.worker_name().rsplit(":", 1)[0] + ":"
    dead_here, alive_here, elsewhere = f"{prefix}{finished.pid}", tasks.worker_name(), "other-host:1:12345"
    assert tasks.dead_local_owners({dead_here, alive_here, elsewhere}) == {dead_here}

    in_future = timezone.now() + timezone.timedelta(minutes=5)
    runs = {owner: accept(subject=owner, body="How long is the trial?") for owner in (dead_here, alive_here, elsewhere)}
    for owner, run in runs.items():
        Run.objects.filter(pk=run.pk).update(attempts=1, lease_owner=owner, lease_expires_at=in_future)
    queued = OrmQ.objects.count()

    assert tasks.reap_dead_local_workers() == {"requeued": 1, "failed": 0}

    for run in runs.values():
        run.refresh_from_db()
    assert runs[dead_here].lease_owner == ""
    assert runs[dead_here].events.get(type="lease_expired").message == "Queued again: its worker is gone"
    assert OrmQ.objects.count() == queued + 1
    assert (runs[alive_here].lease_owner, runs[elsewhere].lease_owner) == (alive_here, elsewhere)
    assert execute(runs[dead_here]) in ("completed", "escalated")  # attempt 2, as after any lost lease
    assert runs[dead_here].attempts == 2


def test_prune_removes_checkpoints_of_old_finished_runs(settings):
    old = accept(subject="Old", body="How long is the trial?")
    new = accept(subject="New", body="How long is the trial?")
    execute(old)
    execute(new)
    Run.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timezone.timedelta(days=30))

    assert tasks.prune_checkpoints() >= 1

    saver = get_checkpointer()
    assert saver.get_tuple({"configurable": {"thread_id": str(old.pk)}}) is None
    assert saver.get_tuple({"configurable": {"thread_id": str(new.pk)}}) is not None


def test_the_worker_schedules_the_reaper_every_minute_and_pruning_hourly():
    """The migration's schedules (applied again here: flushes of other tests may have removed
    them), each naming a task that exists."""
    import importlib
    import pydoc

    from django.apps import apps
    from django_q.models import Schedule

    for name in ("0001_checkpoint_tables_and_schedules", "0002_retention_schedule"):
        migration = importlib.import_module(f"orchestration.migrations.{name}")
        migration.schedules(apps, None)
        migration.schedules(apps, None)  # applying twice changes nothing

    schedules = {s.func: s for s in Schedule.objects.filter(name__startswith="autoflow: ")}
    assert len(schedules) == 3
    reaper = schedules["orchestration.tasks.reap_runs"]
    assert (reaper.schedule_type, reaper.minutes, reaper.repeats) == (Schedule.MINUTES, 1, -1)
    assert schedules["orchestration.tasks.prune_checkpoints"].schedule_type == Schedule.HOURLY
    assert schedules["orchestration.tasks.purge_expired"].schedule_type == Schedule.DAILY
    assert all(callable(pydoc.locate(func)) for func in schedules)
