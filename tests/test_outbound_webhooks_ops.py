"""Outbound webhooks as operators and integrators meet them: the `webhook_subscription` command,
the admin (secret shown once, SSRF guard on the form, Redeliver), the console's run page, the
worker process's sender thread, erasure of delivery payloads, and the events queued by operator
actions (escalation.resolved, reply.sent). The delivery itself: tests/test_outbound_webhooks.py."""

import io
import json
import threading
import time

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

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
from orchestration.runner.worker import Worker
from testutils.fake_smtp import FakeSMTP
from testutils.webhook_receiver import fail_run, run_of
from testutils.workflow import accept, execute, load_knowledge_base

pytestmark = pytest.mark.django_db(transaction=True)


def test_escalation_resolved_is_queued_with_the_resolution(receiver, operator):
    client, _ = services.api_client_create(name="resolver")
    services.webhook_subscription_create(client=client, url=receiver.url, events=["escalation.resolved"])
    run = run_of(client, status=RunStatus.ESCALATED)
    services.run_resolve(run_id=run.pk, user=operator, note="done")
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "escalation.resolved"
    assert delivery.payload["status"] == "escalated"


def test_the_management_command_prints_the_secret_once(receiver):
    client, _ = services.api_client_create(name="scripted")
    out = io.StringIO()
    call_command("webhook_subscription", "create", "scripted", receiver.url,
                 "--events", "run.completed,run.escalated", stdout=out)
    secret = out.getvalue().strip()
    sub = WebhookSubscription.objects.get(api_client=client)
    assert secret == sub.secret
    assert secret.startswith("whsec_")
    assert sub.events == ["run.completed", "run.escalated"]
    listing = io.StringIO()
    call_command("webhook_subscription", "list", stdout=listing)
    assert receiver.url in listing.getvalue()
    assert secret not in listing.getvalue()
    rotated = io.StringIO()
    call_command("webhook_subscription", "rotate", str(sub.pk), stdout=rotated)
    assert rotated.getvalue().strip().startswith("whsec_")
    assert rotated.getvalue().strip() != secret
    call_command("webhook_subscription", "deactivate", str(sub.pk), stdout=io.StringIO())
    assert not WebhookSubscription.objects.get(pk=sub.pk).is_active


def test_the_run_page_lists_deliveries_and_redelivers(receiver, client_and_sub, operator_client, operator):
    client, _ = client_and_sub
    run = run_of(client)
    fail_run(run)
    webhooks.deliver_due()
    delivery = WebhookDelivery.objects.get()
    page = operator_client.get(reverse("dashboard:run", args=[run.pk]))
    text = page.content.decode()
    assert "Webhook deliveries" in text
    assert "run.error" in text
    assert "Redeliver" in text
    url = reverse("dashboard:run-redeliver", args=[run.pk, delivery.pk])
    assert Client().post(url).status_code == 302  # to the sign-in page: nothing happens
    without_csrf = Client(enforce_csrf_checks=True)
    without_csrf.force_login(operator)
    assert without_csrf.post(url).status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    response = operator_client.post(url)
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert json.loads(json.dumps(delivery.payload))["event"] == "run.error"


def test_the_admin_shows_the_secret_once_and_redelivers(receiver, admin_client):
    client, _ = services.api_client_create(name="admin-made")
    response = admin_client.post("/admin/inquiries/webhooksubscription/add/", {
        "api_client": client.pk, "url": receiver.url, "events": ["run.error", "reply.sent"], "is_active": "on",
    }, follow=True)
    assert response.status_code == 200
    sub = WebhookSubscription.objects.get(api_client=client)
    assert sub.events == ["run.error", "reply.sent"]
    assert any(sub.secret in str(m) for m in get_messages(response.wsgi_request))
    page = admin_client.get(f"/admin/inquiries/webhooksubscription/{sub.pk}/change/").content.decode()
    assert sub.secret not in page
    assert sub.masked_secret in page

    run = run_of(client)
    fail_run(run)
    webhooks.deliver_due()
    delivery = WebhookDelivery.objects.get()
    page = admin_client.get(f"/admin/inquiries/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert delivery.webhook_id in page
    assert "Attempt" in page
    assert delivery.webhook_id in admin_client.get(f"/admin/inquiries/run/{run.pk}/change/").content.decode()
    admin_client.post("/admin/inquiries/webhookdelivery/", {"action": "redeliver", "_selected_action": [delivery.pk]})
    assert webhooks.deliver_due() == 1
    assert delivery.attempt_log.count() == 2


def test_the_admin_refuses_a_private_url_unless_allowed(admin_client, settings):
    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE = False
    client, _ = services.api_client_create(name="admin-private")
    response = admin_client.post("/admin/inquiries/webhooksubscription/add/", {
        "api_client": client.pk, "url": "http://169.254.169.254/latest", "events": ["run.error"], "is_active": "on"})
    assert response.status_code == 200
    assert "link-local" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_erasure_erases_the_payloads_of_deliveries(receiver, client_and_sub):
    client, _ = client_and_sub
    run = run_of(client)
    fail_run(run)
    email = Run.objects.select_related("inquiry").get(pk=run.pk).inquiry.sender_email
    assert email in json.dumps(WebhookDelivery.objects.get().payload)
    counts = services.contact_erase(email=email, actor_label="tests")
    assert counts["webhook_payloads"] == 1
    payload = WebhookDelivery.objects.get().payload
    assert email not in json.dumps(payload)
    assert payload == {"event": "run.error", "run_id": str(run.pk), "status": "error", "erased": True}


def test_reply_sent_is_queued_with_the_sent_email(receiver, settings, operator):
    client, _ = services.api_client_create(name="replies")
    services.webhook_subscription_create(client=client, url=receiver.url, events=["reply.sent"])
    run = run_of(client, status=RunStatus.ESCALATED, draft_response="Here is the answer.")
    with FakeSMTP(["550"]) as smtp:
        smtp.use(settings)
        services.run_reply_approve(run_id=run.pk, user=operator)  # refused by the server: not sent
        assert not WebhookDelivery.objects.exists()
        services.email_send_again(run_id=run.pk, user=operator)  # accepted
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "reply.sent"
    assert delivery.payload["final_response"] == "Here is the answer."


def test_the_worker_processes_sender_thread_delivers(receiver, client_and_sub, settings):
    """The trigger: each worker process's `webhooks` thread (orchestration/runner/worker.py)."""
    settings.OUTBOUND_WEBHOOK_POLL_SECONDS = 0.1
    client, _ = client_and_sub
    fail_run(run_of(client))
    worker = Worker(concurrency=1)
    thread = threading.Thread(target=worker._webhooks, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stopping.set()
        thread.join(timeout=15)
        worker.pool.shutdown()
    assert not thread.is_alive()
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED


def test_the_workflows_automatic_reply_queues_reply_sent_with_the_step(receiver, settings):
    """The leased path: the reply's `sent` update, its event and the delivery commit together."""
    settings.LLM_BACKEND = "builtin"
    load_knowledge_base()
    client, _ = services.api_client_create(name="auto-replies")
    services.webhook_subscription_create(client=client, url=receiver.url, events=["reply.sent", "run.completed"])
    run = accept(subject="Free trial", body="Is there a free trial, and do I need a credit card to start it?")
    Inquiry.objects.filter(pk=run.inquiry_id).update(api_client=client)
    assert execute(run) == "completed"
    assert run.emails.get().status == "sent"
    events = sorted(WebhookDelivery.objects.filter(run=run).values_list("event", flat=True))
    assert events == ["reply.sent", "run.completed"]
    assert webhooks.deliver_due() == 2
    assert sorted(json.loads(r.body)["event"] for r in receiver.requests) == events


def test_with_tracing_on_a_receiver_gets_no_trace_context_of_ours(receiver, monkeypatch):
    """The official httpx instrumentation adds `traceparent` to every request; a webhook receiver
    is someone else's server and must not learn our trace ids (core/tracing.py untraced_http)."""
    import httpx
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.trace import TracerProvider

    from core import tracing
    from inquiries.webhook_http import post

    provider = TracerProvider()
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))  # tracing on, as setup() leaves it
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    try:
        with provider.get_tracer("test").start_as_current_span("autoflow.run"):
            httpx.post(receiver.url, content=b"{}", timeout=5)  # the instrumentation at work: it propagates
            answer = post(receiver.url, body="{}", msg_id="msg_traced", secrets=["whsec_" + "QUJD" * 8])
    finally:
        HTTPXClientInstrumentor().uninstrument()
    assert answer.status_code == 200, answer
    plain, delivery = receiver.requests
    assert plain.headers.get("traceparent", "").startswith("00-")
    assert delivery.headers["webhook-id"] == "msg_traced"
    assert not {"traceparent", "tracestate"} & set(delivery.headers)
