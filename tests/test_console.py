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


# --- Triage: confidence band, language, sentiment, entities, citations ------------------------------

TRIAGE = {
    "intent": "billing_issue", "intent_confidence": 0.72, "confidence_band": "medium", "language": "de",
    "language_confidence": 0.93, "sentiment": "very_negative",
    "entities": {"order_numbers": [{"kind": "invoice", "value": "INV-2024-0042"}],
                 "amounts": [{"value": 49.0, "currency": "EUR", "text": "49 €"}], "seats": [12],
                 "products": ["Growth plan"], "urls": ["https://evil.example/pay?x=1"],
                 "emails": ["billing@evil.example"]},
    "citations": [{"slug": "refunds", "title": "Refunds and double charges",
                   "passage": "Duplicate charges are refunded within 5 business days."}],
}


def _triaged_run(subject: str = "Doppelt abgebucht"):
    return make_run(inquiry=make_inquiry(subject=subject), status="completed", **TRIAGE)


def test_run_page_shows_the_triage_in_its_live_parts(auditor_client):
    run = _triaged_run()
    header = auditor_client.get(f"/console/runs/{run.pk}/?partial=header", headers={"HX-Request": "true"})
    html = header.content.decode()
    assert '<span class="band band-medium" id="run-band">medium confidence</span>' in html
    assert "(0.72)" in html
    assert '<dd id="run-language"><code>de</code> German <span class="muted">(0.93)</span></dd>' in html
    assert '<span class="sentiment sentiment-very_negative" id="run-sentiment">Very negative</span>' in html
    for text in ("invoice: INV-2024-0042", "49 €", "<li>12</li>", "Growth plan", "<li>billing@evil.example</li>",
                 "<li>https://evil.example/pay?x=1</li>"):
        assert text in html, text
    assert 'href="https://evil.example' not in html  # untrusted: text, never a link
    assert "mailto:" not in html
    response = auditor_client.get(f"/console/runs/{run.pk}/?partial=response", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<strong>Refunds and double charges</strong>" in html  # auditors are not staff: no admin link
    assert '<code class="muted">refunds</code>' in html
    assert "<blockquote>Duplicate charges are refunded within 5 business days.</blockquote>" in html


def test_run_page_links_a_citation_to_the_admin_for_staff(operator_client, operator):
    from inquiries.models import KnowledgeArticle

    article = KnowledgeArticle.objects.create(slug="refunds", title="Refunds and double charges", body="…")
    operator.is_staff = True
    operator.save()
    run = _triaged_run()
    html = operator_client.get(f"/console/runs/{run.pk}/").content.decode()
    assert f'<a href="/admin/inquiries/knowledgearticle/{article.pk}/change/">Refunds and double charges</a>' in html


def test_run_page_without_triage_shows_none_of_it(auditor_client):
    run = make_run(status="running")
    html = auditor_client.get(f"/console/runs/{run.pk}/").content.decode()
    for absent in ('id="run-band"', 'id="run-language"', 'id="run-sentiment"', 'id="run-entities"', 'id="citations"'):
        assert absent not in html, absent


def test_history_filters_by_band_language_and_sentiment(auditor_client):
    _triaged_run("German medium")
    make_run(inquiry=make_inquiry(subject="English high"), confidence_band="high", language="en", sentiment="positive")
    make_run(inquiry=make_inquiry(subject="Never read"), status="running")

    def subjects(query: str) -> set[str]:
        html = auditor_client.get(f"/console/runs/?{query}").content.decode()
        return {s for s in ("German medium", "English high", "Never read") if s in html}

    assert subjects("band=medium") == {"German medium"}
    assert subjects("language=EN") == {"English high"}  # cleaned to the code
    assert subjects("sentiment=very_negative") == {"German medium"}
    assert subjects("sentiment=unknown") == {"Never read"}  # a run not read yet is reported as unknown
    assert subjects("band=high&language=de") == set()
    page = auditor_client.get("/console/runs/?band=high").content.decode()
    assert '<span class="band band-high">high</span>' in page
    assert '<abbr title="English">en</abbr>' in page
    assert "<th>Confidence</th><th>Language</th>" in page
    assert '<option value="de">German</option>' in page  # the language suggestions
    invalid = auditor_client.get("/console/runs/?language=deu").content.decode()
    assert "A language is two letters (ISO 639-1), such as en or de." in invalid


def test_overview_counts_runs_by_band_and_language(auditor_client):
    for _ in range(3):
        make_run(confidence_band="high", language="en")
    make_run(confidence_band="low", language="de")
    make_run(status="running")
    html = auditor_client.get("/console/").content.decode()
    bands = html[html.index('id="band-mix"'):]
    bands = bands[:bands.index("</table>")]
    assert '<span class="band band-high">high</span></th><td><svg class="bar"' in bands
    assert '<rect width="100" height="1"/></svg> 3</td>' in bands
    assert '<rect width="0" height="1"/></svg> 0</td>' in bands  # medium: none
    assert '<rect width="33" height="1"/></svg> 1</td>' in bands  # low, and the one not classified
    assert "not classified" in bands
    languages = html[html.index('id="language-mix"'):]
    languages = languages[:languages.index("</table>")]
    assert languages.index("<code>en</code> English") < languages.index("<code>de</code> German")
    assert "not detected" in languages
    assert '<abbr title="German">de</abbr>' in html  # the recent runs' language column
