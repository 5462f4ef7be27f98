"""The console is for operators and auditors only; its overview shows health and recent runs."""

import pytest

from testutils.factories import make_inquiry, make_run

pytestmark = pytest.mark.django_db


def test_signed_out_visitors_go_to_sign_in(client):
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/?next=/console/"


def test_users_without_a_console_role_are_kept_out(client, outsider):
    client.force_login(outsider)
    assert client.get("/console/").status_code == 302


def test_sign_in_form_works(client, operator):
    page = client.get("/console/login/")
    assert b'<label for="id_username">' in page.content
    response = client.post("/console/login/", {"username": "olivia", "password": "pw-for-tests-only"})
    assert response.status_code == 302
    assert response["Location"] == "/console/"


def test_overview_shows_health_and_recent_runs(operator_client):
    make_run(inquiry=make_inquiry(subject="Where is my invoice?"), status="completed", intent="billing_issue")
    html = operator_client.get("/console/").content.decode()
    assert "System health" in html
    assert "Database: <strong>up</strong>" in html
    assert 'Workers: <strong id="workers">none reporting</strong>' in html  # no qcluster in this test
    assert 'Queue depth: <strong id="queue-depth">' in html
    assert "Where is my invoice?" in html
    assert "completed: <strong>1</strong>" in html


def test_inquiry_text_is_escaped(auditor_client):
    make_run(inquiry=make_inquiry(subject="<script>alert(1)</script>"))
    html = auditor_client.get("/console/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- Pages -----------------------------------------------------------------------------------------

def _escalated_run(**fields):
    return make_run(inquiry=make_inquiry(subject="Production down", sender_email="tom@shop.example"),
                   status="escalated", intent="support", severity="critical",
                   escalation_reason="high_severity: severity critical", draft_response="Hi Tom,\n\nOn it.",
                   handoff_summary="Who: Tom", **fields)


def test_history_filters_are_in_the_url_and_paginate(auditor_client):
    for n in range(30):
        make_run(inquiry=make_inquiry(subject=f"Completed {n}"), status="completed", intent="faq")
    make_run(inquiry=make_inquiry(subject="The one in error"), status="error", intent="support")

    everything = auditor_client.get("/console/runs/").content.decode()
    assert "31 runs" in everything
    assert "Page 1 of 2" in everything
    errors = auditor_client.get("/console/runs/?status=error").content.decode()
    assert "1 run<" in errors
    assert "The one in error" in errors
    assert "Completed 3" not in errors
    searched = auditor_client.get("/console/runs/?q=one+in").content.decode()
    assert "The one in error" in searched
    assert "1 run<" in searched


def test_history_answers_htmx_with_only_the_results(auditor_client):
    make_run(inquiry=make_inquiry(subject="Alpha"), status="completed")
    response = auditor_client.get("/console/runs/?status=completed", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="results"')
    assert "Alpha" in html
    assert "<html" not in html


def test_run_page_shows_header_timeline_reply_and_events(auditor_client):
    from testutils.factories import make_step

    run = _escalated_run()
    make_step(run=run, sequence=1, node="classify_intent", duration_ms=40)
    make_step(run=run, sequence=2, node="support_node", duration_ms=10)
    html = auditor_client.get(f"/console/runs/{run.pk}/").content.decode()
    assert 'id="run-status">Escalated<' in html
    assert "high_severity: severity critical" in html
    assert html.index("classify_intent") < html.index("support_node")
    assert '<rect width="100" height="1"/>' in html  # the longest step fills its bar
    assert '<rect width="25" height="1"/>' in html
    assert "Draft (not sent)" in html
    assert 'id="actions"' not in html  # auditors do not get the action forms
    timeline = auditor_client.get(f"/console/runs/{run.pk}/?partial=timeline", headers={"HX-Request": "true"})
    assert timeline.content.decode().lstrip().startswith('<section class="card" id="timeline"')


def test_run_json_is_the_run_status(auditor_client):
    run = _escalated_run()
    data = auditor_client.get(f"/console/runs/{run.pk}.json").json()
    assert data["run_id"] == str(run.pk)
    assert data["status"] == "escalated"


def test_unknown_run_is_404(auditor_client):
    assert auditor_client.get("/console/runs/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_submit_shows_errors_inline(operator_client):
    response = operator_client.post("/console/submit/", {"sender_name": "", "sender_email": "nope",
                                                         "subject": "Hi", "body": " "})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_sender_email-errors" role="alert"' in html
    assert "Enter a valid email address." in html
    assert 'id="id_body-errors"' in html


def test_submit_with_a_preset_goes_to_the_run_page(operator_client):
    from inquiries.models import Run

    page = operator_client.get("/console/submit/?preset=outage").content.decode()
    assert "production down" in page.lower()
    response = operator_client.post("/console/submit/", {"sender_name": "Tom Berg", "sender_email": "tom@shop.example",
                                                         "subject": "URGENT", "body": "Everything is down."})
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/console/runs/{run.pk}/"
    assert run.inquiry.source == "console"
    assert run.events.get(type="received").actor_label == "user:olivia"


def test_auditors_cannot_submit_or_act(auditor_client):
    run = _escalated_run()
    assert auditor_client.post("/console/submit/", {"sender_name": "A", "sender_email": "a@b.example",
                                                    "subject": "S", "body": "B"}).status_code == 403
    for action in ("assign", "approve", "resolve", "replay", "draft"):
        assert auditor_client.post(f"/console/runs/{run.pk}/{action}", {"draft": "x"}).status_code == 403
    assert auditor_client.get(f"/console/runs/{run.pk}/delete").status_code == 403
    assert not run.events.exists()


def test_signed_out_visitors_reach_no_console_page(client):
    run = _escalated_run()
    for url in ("/console/runs/", f"/console/runs/{run.pk}/", f"/console/runs/{run.pk}.json", "/console/submit/",
                "/console/escalations/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/console/login/")
    assert client.post(f"/console/runs/{run.pk}/assign").status_code == 302
    assert not run.events.exists()


def test_operator_takes_over_edits_sends_once_and_resolves(operator_client, operator):
    from django.core import mail

    run = _escalated_run()
    queue = operator_client.get("/console/escalations/?scope=unassigned").content.decode()
    assert "Production down" in queue

    operator_client.post(f"/console/runs/{run.pk}/assign")
    operator_client.post(f"/console/runs/{run.pk}/draft", {"draft": "Hi Tom,\n\nFixed now.\n\nOlivia"})
    first = operator_client.post(f"/console/runs/{run.pk}/approve", follow=True).content.decode()
    second = operator_client.post(f"/console/runs/{run.pk}/approve", follow=True).content.decode()
    operator_client.post(f"/console/runs/{run.pk}/resolve", {"note": "Customer confirmed."})

    assert "Reply sent to the sender." in first
    assert "The reply was already sent." in second
    assert len(mail.outbox) == 1
    assert mail.outbox[0].body == "Hi Tom,\n\nFixed now.\n\nOlivia"
    page = operator_client.get(f"/console/runs/{run.pk}/").content.decode()
    assert "Customer confirmed." in page
    assert "approved by olivia" in page
    assert "user:olivia" in page  # the event log shows who acted
    mine = operator_client.get("/console/escalations/?scope=resolved").content.decode()
    assert "Production down" in mine


def test_delete_needs_confirmation(operator_client):
    from inquiries.models import Run

    run = _escalated_run()
    confirm = operator_client.get(f"/console/runs/{run.pk}/delete")
    assert "Delete permanently" in confirm.content.decode()
    assert Run.objects.filter(pk=run.pk).exists()
    response = operator_client.post(f"/console/runs/{run.pk}/delete")
    assert response.status_code == 302
    assert not Run.objects.filter(pk=run.pk).exists()


def test_replay_makes_a_linked_run(operator_client):
    from inquiries.models import Run

    run = _escalated_run()
    response = operator_client.post(f"/console/runs/{run.pk}/replay")
    replay = Run.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/console/runs/{replay.pk}/"
    assert replay.replay_of_id == run.pk
    assert str(run.pk) in operator_client.get(f"/console/runs/{replay.pk}/").content.decode()


def test_overview_counts_rates_and_charts(auditor_client):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    make_run(status="completed", intent="faq", finished_at=now + timedelta(milliseconds=800))
    make_run(status="escalated", intent="support", finished_at=now + timedelta(seconds=2))
    make_run(status="running", intent="")
    html = auditor_client.get("/console/?window=7d").content.decode()
    assert "Runs in the last 7d" in html
    assert "Escalation rate: <strong>50%</strong>" in html
    assert "<svg class=\"chart\"" in html
    assert "<circle" in html
    assert ">support</th>" in html
