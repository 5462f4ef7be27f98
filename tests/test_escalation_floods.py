"""Floods reach no human (docs/reliability.md, "Reply policy"): a sender's open escalations are
capped in the queue (ESCALATIONS_PER_SENDER_OPEN); beyond, new ones join the oldest, are counted
there and resolved with it. The queue sorts by severity, then age. Runs go through the real
workflow (built-in engine) on PostgreSQL and Redis."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inquiries import selectors, services
from inquiries.models import Run
from testutils.factories import make_inquiry, make_run
from testutils.workflow import accept, execute

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_senders_flood_joins_its_oldest_open_escalation_and_is_resolved_with_it(settings, operator, operator_client):
    settings.LLM_BACKEND = "builtin"
    settings.ESCALATIONS_PER_SENDER_OPEN = 2
    flood = [accept(subject=f"Outage {n}", body="Production is down, everything fails with an error. Urgent!",
                    sender_email="flood@example.com") for n in range(4)]
    for run in flood:
        assert execute(run) == "escalated"
    other = accept(subject="Outage", body="Production is down, everything fails with an error. Urgent!",
                   sender_email="someone.else@example.com")
    assert execute(other) == "escalated"
    for run in flood:
        run.refresh_from_db()
    first, second, third, fourth = flood
    assert (first.joined_escalation_id, second.joined_escalation_id) == (None, None)
    assert third.joined_escalation_id == fourth.joined_escalation_id == first.pk
    queue = list(selectors.escalation_queue())
    assert {r.pk for r in queue} == {first.pk, second.pk, other.pk}  # two places for the flood, not four
    assert next(r for r in queue if r.pk == first.pk).joined == 2
    page = operator_client.get("/console/escalations/").content.decode()
    assert "(+2 more from this sender)" in page
    assert f"joined the sender's open escalation {first.pk}" in third.steps.get(node="handoff_node").action

    services.run_resolve(run_id=first.pk, user=operator, note="Handled the outage")
    for run in (third, fourth):
        run.refresh_from_db()
        assert run.resolved_at is not None
        assert run.resolution_note == f"Resolved with {first.pk}"
        assert run.events.filter(type="resolved").exists()
    second.refresh_from_db()
    assert second.resolved_at is None  # a place of its own: resolved on its own


def test_the_queue_puts_the_most_severe_first_then_the_oldest():
    now = timezone.now()

    def escalated(severity: str, minutes_ago: int) -> Run:
        run = make_run(inquiry=make_inquiry(), status="escalated", severity=severity)
        Run.objects.filter(pk=run.pk).update(created_at=now - timedelta(minutes=minutes_ago))
        return run

    old_low, new_critical, old_unrated, old_critical, new_high = (
        escalated("low", 50), escalated("critical", 1), escalated("", 60), escalated("critical", 40),
        escalated("high", 2))
    assert list(selectors.escalation_queue()) == [old_critical, new_critical, new_high, old_low, old_unrated]
