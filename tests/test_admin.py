"""Django admin for auditing: runs with steps and events in order, filters, search, CSV export,
history read-only; knowledge base and API clients editable."""

import csv
import io

import pytest
from django.contrib.messages import get_messages

from inquiries.events import run_event_record
from inquiries.models import ApiClient, KnowledgeArticle, Run, RunEventType
from testutils.factories import make_inquiry, make_run, make_step

pytestmark = pytest.mark.django_db

RUNS = "/admin/inquiries/run/"


def test_signed_out_users_are_sent_to_the_login(client):
    response = client.get(RUNS)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_non_staff_users_cannot_use_the_admin(client, outsider):
    client.force_login(outsider)
    assert client.get(RUNS).status_code == 302


def test_operator_lists_runs(operator_client):
    make_run(inquiry=make_inquiry(subject="Invoice charged twice"), status="completed")
    make_run(inquiry=make_inquiry(subject="Demo for 40 seats"))
    page = operator_client.get(RUNS)
    assert page.status_code == 200
    assert "Invoice charged twice" in page.content.decode()
    assert "Demo for 40 seats" in page.content.decode()


def test_run_page_shows_steps_and_events_in_order(auditor_client):
    run = make_run(status="completed", intent="pricing")
    make_step(run=run, sequence=2, node="lead_node")
    make_step(run=run, sequence=1, node="classify_intent")
    make_step(run=run, sequence=3, node="synthesize_response_node")
    run_event_record(run=run, type=RunEventType.RECEIVED, message="event-one")
    run_event_record(run=run, type=RunEventType.QUEUED, message="event-two")
    run_event_record(run=run, type=RunEventType.COMPLETED, message="event-three")

    html = auditor_client.get(f"{RUNS}{run.pk}/change/").content.decode()
    nodes = [html.index(node) for node in ("classify_intent", "lead_node", "synthesize_response_node")]
    assert nodes == sorted(nodes)
    events = [html.index(message) for message in ("event-one", "event-two", "event-three")]
    assert events == sorted(events)
    assert run.inquiry.body in html


def test_recorded_history_is_read_only(operator_client):
    run = make_run(inquiry=make_inquiry(subject="Original subject"))
    page = operator_client.get(f"{RUNS}{run.pk}/change/")
    assert page.status_code == 200
    assert "Original subject" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    response = operator_client.post(f"{RUNS}{run.pk}/change/", {"status": "completed"})
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == "running"
    assert operator_client.get(f"{RUNS}add/").status_code == 403
    assert operator_client.get("/admin/inquiries/runevent/add/").status_code == 403


def test_filters_by_status_intent_escalation_and_backend(auditor_client):
    completed = make_run(status="completed", intent="faq", llm_backend="builtin")
    escalated = make_run(status="escalated", intent="complaint", llm_backend="ollama")

    def listed(query: str) -> set[str]:
        context = auditor_client.get(f"{RUNS}?{query}").context
        return {str(run.pk) for run in context["cl"].result_list}

    assert listed("status__exact=completed") == {str(completed.pk)}
    assert listed("intent__exact=complaint") == {str(escalated.pk)}
    assert listed("escalate__exact=1") == {str(escalated.pk)}
    assert listed("llm_backend__exact=builtin") == {str(completed.pk)}


def test_search_by_run_id_email_and_subject(auditor_client):
    wanted = make_run(inquiry=make_inquiry(sender_email="grace@navy.example", subject="COBOL migration"))
    make_run(inquiry=make_inquiry(sender_email="alan@bletchley.example", subject="Enigma pricing"))

    def found(term: str) -> list[str]:
        return [str(run.pk) for run in auditor_client.get(RUNS, {"q": term}).context["cl"].result_list]

    assert found(str(wanted.pk)) == [str(wanted.pk)]
    assert found("grace@navy") == [str(wanted.pk)]
    assert found("cobol") == [str(wanted.pk)]
    assert found("nothing-like-this") == []


def test_csv_export_of_a_selection(auditor_client):
    chosen = make_run(inquiry=make_inquiry(subject="=HYPERLINK(\"http://evil\")", sender_name="Ada"),
                      status="completed", intent="pricing", lead_score=80, lead_tier="hot")
    make_run(inquiry=make_inquiry(subject="not selected"))
    response = auditor_client.post(RUNS, {"action": "export_runs_csv", "_selected_action": [str(chosen.pk)]})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    row = rows[0]
    assert row["run_id"] == str(chosen.pk)
    assert (row["status"], row["intent"], row["lead_score"], row["lead_tier"]) == ("completed", "pricing", "80", "hot")
    assert row["sender_name"] == "Ada"
    assert row["subject"] == "'=HYPERLINK(\"http://evil\")"  # a formula is neutralised, not executed
    assert row["created_at"].endswith("Z")


def test_auditors_cannot_delete_runs_but_operators_can(auditor_client, operator, client):
    run = make_run()
    assert auditor_client.post(f"{RUNS}{run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Run.objects.filter(pk=run.pk).exists()

    client.force_login(operator)
    assert client.post(f"{RUNS}{run.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Run.objects.filter(pk=run.pk).exists()


def test_knowledge_base_is_editable(operator_client):
    response = operator_client.post("/admin/inquiries/knowledgearticle/add/", {
        "title": "Data residency", "slug": "data-residency", "category": "security",
        "keywords": "eu region", "body": "Data stays in the EU region you choose.", "is_published": "on",
    })
    assert response.status_code == 302
    assert KnowledgeArticle.objects.get(slug="data-residency").title == "Data residency"


def test_api_client_key_is_shown_once_and_stored_hashed(admin_client):
    response = admin_client.post("/admin/inquiries/apiclient/add/", {
        "name": "HubSpot form", "is_active": "on", "rate_limit": "600/m", "notes": "",
    }, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    key = next(word for message in shown for word in message.split() if word.startswith("af_"))
    client = ApiClient.objects.get(name="HubSpot form")
    assert client.key_hash == ApiClient.hash_key(key)
    assert key not in client.key_hash
    assert key not in client.key_prefix
    assert key.startswith(client.key_prefix)
    assert client.rate_limit == "600/m"
    assert key not in admin_client.get(f"/admin/inquiries/apiclient/{client.pk}/change/").content.decode()


def test_api_client_revocation_records_when(admin_client):
    from inquiries.services import api_client_create

    client, _ = api_client_create(name="Zendesk")
    admin_client.post(f"/admin/inquiries/apiclient/{client.pk}/change/", {
        "name": "Zendesk", "rate_limit": "", "notes": "",  # is_active unticked
    })
    client.refresh_from_db()
    assert client.is_active is False
    assert client.revoked_at is not None
