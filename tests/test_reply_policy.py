"""What goes out on its own and what waits for an operator (docs/reliability.md, "Reply policy
and throttles"): throttles per recipient and per API client, never our own domain, never a
replay; the headers on every reply."""

import uuid
from datetime import timedelta

import pytest
from django.core import mail

from inquiries import services
from inquiries.models import ApiClient, OutboundEmail, Run
from testutils.workflow import accept, execute, load_knowledge_base

pytestmark = pytest.mark.django_db(transaction=True)

FAQ = {"subject": "Free trial", "body": "Is there a free trial, and do I need a credit card to start it?"}


@pytest.fixture(autouse=True)
def builtin_engine(settings):
    settings.LLM_BACKEND = "builtin"
    load_knowledge_base()


def _rules(run: Run) -> list[str]:
    return [r["rule"] for r in run.escalation_reasons]


def _assert_headers(message) -> None:
    assert message.extra_headers["Auto-Submitted"] == "auto-replied"
    assert message.extra_headers["X-Auto-Response-Suppress"] == "All"
    assert message.content_subtype == "plain"
    assert "Auto-Submitted: auto-replied" in message.message().as_string()


def _client_accept(client: ApiClient, sender_email: str) -> Run:
    data = {"sender_name": "Dana Lee", "sender_email": sender_email, **FAQ}
    caller = services.Caller(identity=f"client:{client.pk}", label=client.name, ip="127.0.0.1",
                             api_client_id=client.pk)
    acceptance = services.inquiry_accept(data=data, raw_payload=data, caller=caller, idempotency_key=None,
                                         fingerprint=str(uuid.uuid4()))
    return Run.objects.get(pk=acceptance.run_id)


def test_the_fourth_automatic_reply_to_one_recipient_within_a_day_waits_for_an_operator(operator):
    # The address is compared lower-cased: changing its case does not reset the count.
    for address in ("dana@example.com", "Dana@Example.com", "DANA@example.com"):
        assert execute(accept(**FAQ, sender_email=address)) == "completed"
    fourth = accept(**FAQ, sender_email="dana@EXAMPLE.com")

    assert execute(fourth) == "escalated"

    assert len(mail.outbox) == 3
    assert _rules(fourth) == ["reply_throttled"]
    assert "AUTO_REPLY_PER_RECIPIENT" in fourth.escalation_reason
    assert "reply_throttled" in fourth.handoff_summary
    assert not OutboundEmail.objects.filter(run=fourth).exists()
    assert fourth.draft_response
    assert not fourth.final_response

    email = services.run_reply_approve(run_id=fourth.pk, user=operator)

    assert (email.status, email.automatic, email.approved_by) == ("sent", False, operator)
    assert len(mail.outbox) == 4
    for message in mail.outbox:  # automatic and approved alike
        _assert_headers(message)


def test_replies_older_than_a_day_do_not_count():
    for _ in range(3):
        assert execute(accept(**FAQ)) == "completed"
    OutboundEmail.objects.update(created_at=OutboundEmail.objects.first().created_at - timedelta(hours=25))

    assert execute(accept(**FAQ)) == "completed"
    assert len(mail.outbox) == 4


def test_the_per_client_hourly_limit_holds_the_next_reply(settings, operator):
    settings.AUTO_REPLY_PER_CLIENT_HOUR = 2
    client = ApiClient.objects.create(name="shop", key_prefix="af_x", key_hash="x" * 64)
    for n in range(2):
        assert execute(_client_accept(client, f"buyer{n}@example.com")) == "completed"
    third = _client_accept(client, "buyer9@example.com")

    assert execute(third) == "escalated"

    assert _rules(third) == ["reply_throttled"]
    assert "AUTO_REPLY_PER_CLIENT_HOUR" in third.escalation_reason
    assert len(mail.outbox) == 2
    # Other callers (here the tests' own key) are not held by this client's limit.
    assert execute(accept(**FAQ, sender_email="buyer9@example.com")) == "completed"
    assert services.run_reply_approve(run_id=third.pk, user=operator).status == "sent"
    assert len(mail.outbox) == 4


@pytest.mark.parametrize("address", ["autoflow@ourco.example", "Sales@OurCo.example", "x@mail.ourco.example"])
def test_our_own_domain_is_never_replied_to_automatically(settings, address):
    settings.DEFAULT_FROM_EMAIL = "AutoFlow <autoflow@ourco.example>"
    run = accept(**FAQ, sender_email=address)

    assert execute(run) == "escalated"

    assert mail.outbox == []
    assert _rules(run) == ["reply_throttled"]
    assert "own domain" in run.escalation_reason
    assert not OutboundEmail.objects.filter(run=run).exists()


def test_a_look_alike_domain_is_not_ours(settings):
    settings.DEFAULT_FROM_EMAIL = "AutoFlow <autoflow@ourco.example>"
    assert not services.own_address("dana@notourco.example")
    assert services.own_address("AUTOFLOW@ourco.example")


def test_a_replayed_run_never_replies_on_its_own(operator):
    original = accept(**FAQ)
    assert execute(original) == "completed"
    assert len(mail.outbox) == 1

    replay = Run.objects.get(pk=services.run_replay(run_id=original.pk, user=operator).run_id)

    assert execute(replay) == "escalated"
    assert len(mail.outbox) == 1
    assert _rules(replay) == ["replay_needs_approval"]
    assert not OutboundEmail.objects.filter(run=replay).exists()
    assert services.run_reply_approve(run_id=replay.pk, user=operator).status == "sent"
    assert len(mail.outbox) == 2


def test_two_workers_cannot_both_take_the_last_slot(settings):
    """The count and the insert happen under an advisory lock on the recipient: runs finishing at
    the same moment in two threads (two connections) send one reply between them."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    settings.AUTO_REPLY_PER_RECIPIENT = 1
    runs = [accept(**FAQ) for _ in range(4)]

    def work(run: Run) -> str:
        try:
            return execute(run)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(work, runs))

    assert outcomes == ["completed", "escalated", "escalated", "escalated"]
    assert len(mail.outbox) == 1
    assert OutboundEmail.objects.count() == 1
