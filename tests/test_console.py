"""The console is for operators and auditors only; its overview shows health and recent runs."""

import pytest

from tests.factories import make_inquiry, make_run

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
    assert "Where is my invoice?" in html
    assert "completed: <strong>1</strong>" in html


def test_inquiry_text_is_escaped(auditor_client):
    make_run(inquiry=make_inquiry(subject="<script>alert(1)</script>"))
    html = auditor_client.get("/console/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
