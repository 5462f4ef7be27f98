"""Delivery over real SMTP (a fake server on loopback, testutils/fake_smtp.py): transient
failures are retried through the queue on the same (run, kind) row, permanent ones fail at once
and are shown with "Send again", and a hung server fails within EMAIL_TIMEOUT."""

import ast
import time

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from inquiries import services
from inquiries.models import OutboundEmail
from testutils.fake_smtp import FakeSMTP
from testutils.workflow import accept, execute, load_knowledge_base

pytestmark = pytest.mark.django_db(transaction=True)

FAQ = {"subject": "Free trial", "body": "Is there a free trial, and do I need a credit card to start it?"}
CRITICAL = {"subject": "Production down", "body": "Our production system is down and nothing works at all."}


@pytest.fixture
def smtp(settings, request):
    """The fake SMTP server; its script is the test's `script` parameter (indirect), else accept."""
    settings.LLM_BACKEND = "builtin"
    settings.EMAIL_TIMEOUT = 1
    load_knowledge_base()
    with FakeSMTP(getattr(request, "param", ())) as server:
        server.use(settings)
        yield server


def script(*steps):
    return pytest.mark.parametrize("smtp", [steps], indirect=True, ids=["-".join(steps)])


def _run_due_retries() -> list[str]:
    """What django-q2's scheduler would queue, run in this process (its `next_run` passed)."""
    results = []
    for schedule in Schedule.objects.filter(func="inquiries.services.email.email_retry"):
        assert schedule.next_run > timezone.now()  # a backoff, not at once
        results.append(import_string(schedule.func)(*ast.literal_eval(schedule.args)))
        schedule.delete()
    return results


@script("451")
def test_a_transient_failure_is_retried_through_the_queue_and_sent_once(smtp):
    run = accept(**FAQ)
    assert execute(run) == "completed"
    email = OutboundEmail.objects.get(run=run)
    assert (email.status, email.attempts, smtp.messages) == ("retrying", 1, [])
    assert "451" in email.error

    assert _run_due_retries() == ["sent"]

    email.refresh_from_db()
    assert (email.status, email.attempts, email.error) == ("sent", 2, "")
    assert len(smtp.messages) == 1
    assert b"Auto-Submitted: auto-replied" in smtp.messages[0]
    assert b"X-Auto-Response-Suppress: All" in smtp.messages[0]
    # A second delivery of the retry task finds the row sent: nothing more goes out.
    assert services.email_retry(email.pk) == "skipped"
    assert len(smtp.messages) == 1
    assert run.events.filter(type="reply_sent").count() == 1


@script("421", "451")
def test_transient_failures_stop_after_email_max_attempts(smtp, settings):
    settings.EMAIL_MAX_ATTEMPTS = 2
    run = accept(**FAQ)
    execute(run)
    assert _run_due_retries() == ["failed"]
    assert _run_due_retries() == []
    assert OutboundEmail.objects.get(run=run).status == "failed"
    assert smtp.messages == []


@script("550")
def test_a_permanent_failure_is_failed_at_once_and_an_operator_sends_it_again(smtp, operator_client, operator):
    run = accept(**FAQ)
    assert execute(run) == "completed"
    email = OutboundEmail.objects.get(run=run)
    assert email.status == "failed"
    assert "550" in email.error
    assert not Schedule.objects.filter(func="inquiries.services.email.email_retry").exists()

    page = operator_client.get(f"/console/runs/{run.pk}/").content.decode()
    assert "Failed" in page
    assert "550" in page
    assert 'id="send-again"' in page

    response = operator_client.post(f"/console/runs/{run.pk}/send-again")

    assert response.status_code == 302
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("sent", 2)
    assert len(smtp.messages) == 1
    assert OutboundEmail.objects.filter(run=run).count() == 1
    assert run.events.filter(type="note", actor=operator, data__action="email_send_again").count() == 1
    assert run.events.get(type="reply_sent").actor == operator
    # Sent: "send again" is refused and sends nothing.
    operator_client.post(f"/console/runs/{run.pk}/send-again")
    assert len(smtp.messages) == 1
    assert 'id="send-again"' not in operator_client.get(f"/console/runs/{run.pk}/").content.decode()


def test_send_again_needs_csrf_and_the_change_permission(smtp, auditor_client, operator):
    run = accept(**FAQ)
    execute(run)
    OutboundEmail.objects.filter(run=run).update(status="failed")
    assert auditor_client.post(f"/console/runs/{run.pk}/send-again").status_code == 403
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(operator)
    assert checked.post(f"/console/runs/{run.pk}/send-again").status_code == 403
    assert OutboundEmail.objects.get(run=run).status == "failed"
    assert len(smtp.messages) == 1


@script("hang")
def test_a_hung_server_fails_the_approval_within_email_timeout(smtp, settings, operator, operator_client):
    settings.EMAIL_MAX_ATTEMPTS = 1
    run = accept(**CRITICAL)
    assert execute(run) == "escalated"

    started = time.monotonic()
    page = operator_client.post(f"/console/runs/{run.pk}/approve", follow=True).content.decode()

    assert time.monotonic() - started < settings.EMAIL_TIMEOUT + 3
    email = OutboundEmail.objects.get(run=run)
    assert email.status == "failed"
    assert "timed out" in email.error
    assert "The reply was not sent (failed): SMTPServerDisconnected" in page
    assert "already sent" not in page
    assert "Reply sent" not in page
    assert 'id="send-again"' in page
    with pytest.raises(services.ActionRefused, match="Send again"):
        services.run_reply_approve(run_id=run.pk, user=operator)

    # The server answers again: Send again delivers the same row, once.
    page = operator_client.post(f"/console/runs/{run.pk}/send-again", follow=True).content.decode()
    assert "Reply sent to the sender." in page
    assert len(smtp.messages) == 1
    assert OutboundEmail.objects.get(run=run).status == "sent"


@script("451")
def test_the_retry_goes_through_django_q2s_scheduler_and_queue(smtp):
    """What the worker does: its scheduler queues the due one-off schedule, its slot runs the task."""
    from django_q.scheduler import scheduler

    from inquiries import taskqueue
    from inquiries.services._common import broker

    run = accept(**FAQ)
    execute(run)
    email = OutboundEmail.objects.get(run=run)
    scheduler(broker=broker())
    assert Schedule.objects.filter(func="inquiries.services.email.email_retry").exists()  # not due yet
    Schedule.objects.filter(func="inquiries.services.email.email_retry").update(next_run=timezone.now())

    scheduler(broker=broker())

    assert not Schedule.objects.filter(func="inquiries.services.email.email_retry").exists()  # one-off
    retries = [(task_id, task) for task_id, task in taskqueue.take(limit=50, hold_seconds=30)
               if task["func"] == "inquiries.services.email.email_retry"]
    assert [task["args"] for _, task in retries] == [(email.pk,)]
    for task_id, task in retries:
        assert import_string(task["func"])(*task["args"]) == "sent"
        taskqueue.ack(task_id)
    assert len(smtp.messages) == 1
    assert OutboundEmail.objects.get(run=run).status == "sent"
