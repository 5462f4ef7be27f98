"""Outbound webhooks against a real receiver on loopback (testutils/webhook_receiver.py): queued in
the transaction of the change, delivered at least once with backoff, signed by the Standard
Webhooks scheme (checked with the `standardwebhooks` package), stopped by a 4xx, paced by
Retry-After and the circuit, refused for private targets unless allowed, redelivered on request."""

import random
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from inquiries import services
from inquiries.models import (
    DeliveryStatus,
    Inquiry,
    Run,
    RunStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from inquiries.services import webhooks
from inquiries.services._common import end_locked, locked_run
from inquiries.webhook_http import TargetRefused, resolve
from testutils.webhook_receiver import fail_run, run_of
from testutils.workflow import accept, execute, load_knowledge_base

pytestmark = pytest.mark.django_db(transaction=True)

FAQ = {"subject": "Free trial", "body": "Is there a free trial, and do I need a credit card to start it?"}


def _due(delivery: WebhookDelivery):
    delivery.refresh_from_db()
    return delivery.next_attempt_at


def test_the_production_backoff_schedule():
    ceilings = [webhooks.backoff_ceiling(n, base=5, cap=3600) for n in range(1, 12)]
    assert ceilings == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    rng = random.Random(1)
    for n in range(1, 30):
        assert 0 <= webhooks.backoff(n, rng=rng, base=5, cap=3600) <= webhooks.backoff_ceiling(n, base=5, cap=3600)
    assert webhooks.backoff(1, retry_after=120, rng=rng, base=5, cap=3600) >= 120
    # The ceilings reach the 24 h window after about 30 attempts (with full jitter, later on average).
    total, attempts = 0.0, 0
    while total < 86400:
        attempts += 1
        total += webhooks.backoff_ceiling(attempts, base=5, cap=3600)
    assert 25 <= attempts <= 35


def test_down_then_500_then_200_is_delivered_once_with_every_attempt_logged(receiver, settings):
    settings.LLM_BACKEND = "builtin"
    load_knowledge_base()
    client, _ = services.api_client_create(name="helpdesk")
    sub = services.webhook_subscription_create(client=client, url=receiver.url,
                                               events=["run.completed", "run.escalated"])
    run = accept(**FAQ)
    Inquiry.objects.filter(pk=run.inquiry_id).update(api_client=client)
    outcome = execute(run)  # the worker's path: run_finish_under_lease queues the delivery
    delivery = WebhookDelivery.objects.get(run=run)
    assert delivery.event == f"run.{outcome}"
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.payload["event"] == delivery.event
    assert delivery.payload["run_id"] == str(run.pk)
    assert delivery.payload["status"] == outcome

    receiver.down()
    now = timezone.now()
    assert webhooks.deliver_due(now=now) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_status_code is None
    assert delivery.next_attempt_at > now
    assert webhooks.deliver_due(now=now) == 0  # not before its backoff

    receiver.script = [500]
    receiver.up()
    assert webhooks.deliver_due(now=_due(delivery)) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_status_code == 500
    assert len(delivery.last_response_excerpt) <= 1000  # the body read is capped
    assert webhooks.deliver_due(now=_due(delivery)) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.last_status_code == 200
    assert delivery.delivered_at is not None
    assert delivery.last_latency_ms is not None
    assert webhooks.deliver_due(now=timezone.now() + timedelta(days=2)) == 0  # delivered once

    log = list(delivery.attempt_log.order_by("number"))
    assert [(a.number, a.status_code, a.outcome) for a in log] == [
        (1, None, "failed"), (2, 500, "failed"), (3, 200, "delivered")]
    assert log[0].error
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.webhook_id] * 2
    last = receiver.requests[-1]
    verified = Webhook(sub.secret).verify(last.body, last.headers)  # raises if the signature is wrong
    assert verified["event"] == delivery.event
    assert verified["run_id"] == str(run.pk)


def test_a_4xx_stops_the_delivery(receiver, client_and_sub):
    client, _ = client_and_sub
    receiver.script = [410]
    fail_run(run_of(client))
    assert webhooks.deliver_due() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "run.error"
    assert delivery.status == DeliveryStatus.DEAD
    assert webhooks.deliver_due(now=timezone.now() + timedelta(hours=1)) == 0
    assert len(receiver.requests) == 1


def test_a_redirect_is_not_followed(receiver, client_and_sub):
    client, _ = client_and_sub
    receiver.script = ["redirect"]
    fail_run(run_of(client))
    webhooks.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.last_status_code == 302
    assert [r.path for r in receiver.requests] == ["/hooks"]


def test_429_honours_retry_after_and_408_409_are_retried(receiver, client_and_sub):
    client, _ = client_and_sub
    receiver.script = [(429, {"Retry-After": "120"}), 408, 409]
    fail_run(run_of(client))
    now = timezone.now()
    webhooks.deliver_due(now=now)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.next_attempt_at >= now + timedelta(seconds=120)
    assert webhooks.deliver_due(now=now + timedelta(seconds=60)) == 0
    for _ in range(3):
        webhooks.deliver_due(now=_due(delivery))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 4


def test_retries_stop_after_the_window(receiver, client_and_sub, settings):
    client, _ = client_and_sub
    receiver.script = [503, 503]
    fail_run(run_of(client))
    delivery = WebhookDelivery.objects.get()
    webhooks.deliver_due(now=delivery.created_at)
    webhooks.deliver_due(now=delivery.created_at + timedelta(days=1, minutes=1))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == 2


def test_the_circuit_stops_hammering_a_dead_receiver(receiver, client_and_sub, settings):
    settings.OUTBOUND_WEBHOOK_CIRCUIT_FAILURES = 2
    settings.OUTBOUND_WEBHOOK_CIRCUIT_SECONDS = 600
    client, sub = client_and_sub
    receiver.down()
    for _ in range(3):
        fail_run(run_of(client))
    now = timezone.now()
    assert webhooks.deliver_due(now=now, limit=2) == 2
    sub.refresh_from_db()
    assert sub.consecutive_failures == 2
    assert sub.circuit_open_until == now + timedelta(seconds=600)
    assert webhooks.deliver_due(now=now + timedelta(seconds=599)) == 0  # open: nobody is called
    receiver.up()
    assert webhooks.deliver_due(now=now + timedelta(seconds=601)) == 3  # closed again by a success
    sub.refresh_from_db()
    assert sub.consecutive_failures == 0
    assert sub.circuit_open_until is None


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://10.1.2.3/", "http://169.254.169.254/latest",
                                 "http://[::1]:8080/", "http://localhost/", "http://0.0.0.0/",
                                 "http://224.0.0.1/", "ftp://example.com/"])
def test_the_ssrf_guard_refuses_private_targets_unless_allowed(url, settings):
    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(TargetRefused):
        resolve(url)
    client, _ = services.api_client_create(name="ssrf")
    with pytest.raises(TargetRefused):
        services.webhook_subscription_create(client=client, url=url, events=["run.completed"])
    if not url.startswith("ftp"):
        assert resolve(url, allow_private=True)[1]


def test_the_guard_is_checked_again_at_delivery(receiver, client_and_sub, settings):
    client, _ = client_and_sub
    fail_run(run_of(client))
    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE = False  # allowed at save, not any more
    webhooks.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.last_error.startswith("refused:")
    assert receiver.requests == []


def test_the_delivery_is_queued_in_the_transaction_of_the_change(receiver, client_and_sub):
    client, _ = client_and_sub
    run = run_of(client)
    seen = []

    def fail_then_roll_back() -> None:
        with transaction.atomic():
            end_locked(locked_run(run.pk), status=RunStatus.ERROR, error_code="x", error="boom")
            seen.append(WebhookDelivery.objects.filter(run=run).count())
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        fail_then_roll_back()
    assert seen == [1]  # queued inside the transaction …
    assert not WebhookDelivery.objects.exists()  # … and gone with it
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING
    other, _ = services.api_client_create(name="not-subscribed")
    fail_run(run_of(other))  # another client's run: nothing queued
    WebhookSubscription.objects.update(is_active=False)
    fail_run(run_of(client))  # an inactive subscription: nothing queued
    assert not WebhookDelivery.objects.exists()


def test_redeliver_makes_a_new_attempt_with_the_same_id(receiver, client_and_sub):
    client, _ = client_and_sub
    fail_run(run_of(client))
    webhooks.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    services.webhook_redeliver(delivery_id=delivery.pk)
    assert webhooks.deliver_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 2
    log = list(delivery.attempt_log.order_by("number"))
    assert [a.redelivery for a in log] == [False, True]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len(receiver.requests) == 2


def test_rotation_signs_with_both_secrets(receiver, client_and_sub):
    client, sub = client_and_sub
    old = sub.secret
    new = services.webhook_subscription_rotate(subscription=sub)
    fail_run(run_of(client))
    webhooks.deliver_due()
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(request.body, request.headers)


def test_a_worker_that_lost_its_lease_queues_nothing(receiver, client_and_sub):
    """The leased finish: the delivery's INSERT is in the pipelined transaction behind the lease
    guard, so a refused finish (a rollback) leaves no delivery; the accepted one leaves one."""
    client, _ = client_and_sub
    run = accept(**FAQ)
    Inquiry.objects.filter(pk=run.inquiry_id).update(api_client=client)
    lease = services.run_claim(run_id=run.pk, owner="host:1:100", hold_seconds=25, max_attempts=3)
    Run.objects.filter(pk=run.pk).update(lease_owner="host:1:200", attempts=2)  # taken over
    with pytest.raises(services.LeaseLost):
        services.run_finish_under_lease(lease, status="completed")
    assert not WebhookDelivery.objects.exists()
    Run.objects.filter(pk=run.pk).update(lease_owner="", attempts=1, lease_expires_at=None)
    lease = services.run_claim(run_id=run.pk, owner="host:1:100", hold_seconds=25, max_attempts=3)
    services.run_finish_under_lease(lease, status="completed")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.payload["status"], delivery.payload["event"]) == (
        "run.completed", "completed", "run.completed")


def test_a_host_that_does_not_resolve_is_retried_at_delivery(receiver, client_and_sub):
    client, sub = client_and_sub
    fail_run(run_of(client))
    WebhookSubscription.objects.filter(pk=sub.pk).update(url="http://does-not-exist.invalid/hooks")
    webhooks.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "does not resolve" in delivery.last_error


def test_a_huge_retry_after_is_capped_at_the_window_and_a_claim_outlasts_its_batch(settings):
    """A receiver's "Retry-After: 999999999999" must not overflow a date (the sender would crash on
    it and retry the delivery for ever); a batch's claim lasts until its last row could time out."""
    from inquiries import webhook_http
    from inquiries.services import webhooks as webhook_service

    window = settings.OUTBOUND_WEBHOOK_RETRY_WINDOW_SECONDS
    assert webhook_http._retry_after("999999999999") == window
    assert webhook_http._retry_after("9" * 400) == window
    assert webhook_http._retry_after("120") == 120
    assert webhook_http._retry_after("Wed, 21 Oct 9999 07:28:00 GMT") == window
    per_row = settings.OUTBOUND_WEBHOOK_CONNECT_TIMEOUT + settings.OUTBOUND_WEBHOOK_TIMEOUT
    assert webhook_service.claim_seconds(20) >= 20 * per_row
