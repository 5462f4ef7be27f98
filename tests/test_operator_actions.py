"""What operators do with escalated runs (the console's actions), as services: each is a run
event with the acting user, and the reply goes out once."""

import pytest
from django.core import mail

from inquiries import services
from inquiries.models import Contact, OutboundEmail, Run
from testutils.workflow import accept, execute, load_knowledge_base

pytestmark = pytest.mark.django_db(transaction=True)

CRITICAL = {"subject": "Production down", "body": "Our production system is down and nothing works at all."}


@pytest.fixture
def escalated(settings):
    settings.LLM_BACKEND = "builtin"
    load_knowledge_base()
    run = accept(**CRITICAL)
    assert execute(run) == "escalated"
    return run


def test_assign_edit_approve_resolve(escalated, operator):
    services.run_assign(run_id=escalated.pk, user=operator)
    services.run_draft_update(run_id=escalated.pk, user=operator, draft="Hi Dana,\n\nWe are on it.\n\nOlivia")
    email = services.run_reply_approve(run_id=escalated.pk, user=operator)
    services.run_resolve(run_id=escalated.pk, user=operator, note="Called the customer; fixed.")

    run = Run.objects.get(pk=escalated.pk)
    assert run.assigned_to == operator
    assert run.final_response == "Hi Dana,\n\nWe are on it.\n\nOlivia"
    assert run.resolved_by == operator
    assert run.resolution_note == "Called the customer; fixed."
    assert email.status == "sent"
    assert email.approved_by == operator
    assert len(mail.outbox) == 1
    assert mail.outbox[0].body == "Hi Dana,\n\nWe are on it.\n\nOlivia"
    actions = list(run.events.filter(actor=operator).values_list("type", flat=True))
    assert actions == ["assigned", "draft_edited", "reply_sent", "resolved"]
    assert set(run.events.filter(actor=operator).values_list("actor_label", flat=True)) == {"user:olivia"}


def test_the_reply_goes_once_and_cannot_be_edited_after(escalated, operator):
    services.run_reply_approve(run_id=escalated.pk, user=operator)

    with pytest.raises(services.ActionRefused, match="already sent"):
        services.run_reply_approve(run_id=escalated.pk, user=operator)
    with pytest.raises(services.ActionRefused, match="no longer be edited"):
        services.run_draft_update(run_id=escalated.pk, user=operator, draft="changed")
    assert OutboundEmail.objects.filter(run=escalated).count() == 1
    assert len(mail.outbox) == 1


def test_actions_apply_only_to_escalated_runs(settings, operator):
    settings.LLM_BACKEND = "builtin"
    load_knowledge_base()
    run = accept(subject="Free trial", body="Is there a free trial, and do I need a credit card to start it?")
    assert execute(run) == "completed"

    for action in (lambda: services.run_assign(run_id=run.pk, user=operator),
                   lambda: services.run_resolve(run_id=run.pk, user=operator),
                   lambda: services.run_reply_approve(run_id=run.pk, user=operator)):
        with pytest.raises(services.ActionRefused, match="Only escalated runs"):
            action()
    assert not run.events.filter(actor=operator).exists()


def test_a_resolved_escalation_cannot_be_resolved_again(escalated, operator):
    services.run_resolve(run_id=escalated.pk, user=operator)
    with pytest.raises(services.ActionRefused, match="already resolved"):
        services.run_resolve(run_id=escalated.pk, user=operator)


def test_an_empty_draft_is_refused(escalated, operator):
    with pytest.raises(services.ActionRefused, match="cannot be empty"):
        services.run_draft_update(run_id=escalated.pk, user=operator, draft="   ")


def test_replay_is_a_new_linked_run_that_does_not_count_the_inquiry_twice(escalated, operator):
    acceptance = services.run_replay(run_id=escalated.pk, user=operator)
    replay = Run.objects.get(pk=acceptance.run_id)
    assert replay.replay_of_id == escalated.pk
    assert replay.inquiry.source == "replay"
    assert replay.inquiry.body == escalated.inquiry.body
    assert escalated.events.filter(type="replayed", actor=operator).count() == 1
    assert replay.events.get(type="received").actor == operator

    assert execute(replay) == "escalated"
    assert Contact.objects.get(email="dana@example.com").inquiry_count == 1
