"""Security (docs/reliability.md): who may call what, over every route there is;
CSRF on every console form; untrusted text inert in the console, admin and e-mail; secrets out
of logs and error bodies. Abuse at the edge (nginx, sizes, slow clients, floods) is in
tests/test_abuse.py, prompt injection in tests/test_prompt_injection.py."""

import json
import logging
import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from inquiries.models import OutboundEmail
from testutils.factories import make_inquiry, make_run, make_step
from testutils.security import ADMIN_KEY, PII, SIGNING_SECRET, WEBHOOK_KEY

# --- The matrix: every HTTP route × every kind of caller ------------------------------------------

def _routes() -> set[str]:
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)
    return {route for route in walk(get_resolver().url_patterns) if not route.startswith("admin/")} | {"admin/"}


# API clients by scopes (docs/api.md, "Keys and scopes"); none of them submitted the run asked about.
CLIENT_SCOPES = {"form_key": ["intake", "read_own"], "intake_key": ["intake"], "reader_key": ["read_all"],
                 "deleter_key": ["read_own", "delete"]}
CALLERS = ("anonymous", "wrong_key", "webhook_key", "admin_key", "outsider", "auditor", "operator", *CLIENT_SCOPES)
NO_CONSOLE = dict.fromkeys(("anonymous", "wrong_key", "webhook_key", "admin_key", "outsider", *CLIENT_SCOPES), 302)
# Console pages send everyone who may not see them to sign-in (302), including a signed-in user
# without a console role; an auditor may look but not act (403).
PAGE = {**NO_CONSOLE, "auditor": 200, "operator": 200}
ACTION = {**PAGE, "auditor": 403, "operator": 302}
OPERATOR_PAGE = {**PAGE, "auditor": 403}
# API reads: a key with read_all or a staff session see the run; a read_own key gets the 404 of an
# unknown run (it is not its run); a key without read scopes 403; the admin key is not a read
# key and a session without staff status is no session for the API.
READ = {"anonymous": 401, "wrong_key": 401, "webhook_key": 200, "admin_key": 401, "outsider": 401,
        "auditor": 200, "operator": 200, "form_key": 404, "intake_key": 403, "reader_key": 200, "deleter_key": 404}
LIST = {**READ, "form_key": 200, "deleter_key": 200}  # their own runs: none, and nobody else's
STATS = {**READ, "form_key": 403, "deleter_key": 403}  # every client's figures: read_all only
OWN_ONLY = ("form_key", "deleter_key")
PUBLIC = dict.fromkeys(CALLERS, 200)
ADMIN_SITE = PAGE

# route → [(method, path with {run}, expected status per caller)]
MATRIX = {
    "": [("GET", "/", PUBLIC)],
    "health": [("GET", "/health", PUBLIC)],
    "health/live": [("GET", "/health/live", PUBLIC)],
    "health/ready": [("GET", "/health/ready", PUBLIC)],
    "docs": [("GET", "/docs", dict.fromkeys(CALLERS, 302))],
    # The test client is on loopback and no METRICS_TOKEN is set: anyone there (tests/test_metrics.py
    # has the token, the trusted addresses and the refusals, over real HTTP).
    "metrics": [("GET", "/metrics", PUBLIC)],
    "api/v1/": [("GET", "/api/v1/", dict.fromkeys(CALLERS, 404))],  # django-ninja's index: nothing there
    "api/v1/openapi.json": [("GET", "/api/v1/openapi.json", PUBLIC)],
    "api/v1/docs": [("GET", "/api/v1/docs", PUBLIC)],
    "api/v1/webhook": [("POST", "/api/v1/webhook", {**dict.fromkeys(CALLERS, 401), "webhook_key": 200,
                                                     "form_key": 200, "intake_key": 200, "reader_key": 403,
                                                     "deleter_key": 403})],
    "api/v1/status/<run_id>": [("GET", "/api/v1/status/{run}", READ)],
    "api/v1/status/<run_id>/steps": [("GET", "/api/v1/status/{run}/steps", READ)],
    "api/v1/runs": [("GET", "/api/v1/runs", LIST)],
    "api/v1/stats": [("GET", "/api/v1/stats", STATS)],
    "api/v1/runs/<run_id>": [
        ("GET", "/api/v1/runs/{run}", READ),
        ("DELETE", "/api/v1/runs/{run}", {**dict.fromkeys(CALLERS, 401), "admin_key": 200, "webhook_key": 403,
                                          **dict.fromkeys(CLIENT_SCOPES, 403), "deleter_key": 404}),
    ],
    "console/": [("GET", "/console/", PAGE)],
    "console/login/": [("GET", "/console/login/", PUBLIC)],
    "console/logout/": [("POST", "/console/logout/", dict.fromkeys(CALLERS, 302))],
    "console/runs/": [("GET", "/console/runs/", PAGE)],
    "console/runs/export.csv": [("GET", "/console/runs/export.csv", PAGE)],
    "console/reports/": [("GET", "/console/reports/", PAGE)],
    "console/runs/<uuid:run_id>/": [("GET", "/console/runs/{run}/", PAGE)],
    "console/runs/<uuid:run_id>.json": [("GET", "/console/runs/{run}.json", PAGE)],
    "console/runs/<uuid:run_id>/assign": [("POST", "/console/runs/{run}/assign", ACTION)],
    "console/runs/<uuid:run_id>/draft": [("POST", "/console/runs/{run}/draft", ACTION)],
    "console/runs/<uuid:run_id>/approve": [("POST", "/console/runs/{run}/approve", ACTION)],
    "console/runs/<uuid:run_id>/send-again": [("POST", "/console/runs/{run}/send-again", ACTION)],
    "console/runs/<uuid:run_id>/resolve": [("POST", "/console/runs/{run}/resolve", ACTION)],
    # No such delivery of the run: an operator gets 404, an auditor 403 before any lookup.
    "console/runs/<uuid:run_id>/webhooks/<int:delivery_id>/redeliver": [
        ("POST", "/console/runs/{run}/webhooks/999999/redeliver", {**ACTION, "operator": 404})],
    "console/runs/<uuid:run_id>/replay": [("POST", "/console/runs/{run}/replay", ACTION)],
    "console/runs/<uuid:run_id>/delete": [("GET", "/console/runs/{run}/delete", OPERATOR_PAGE),
                                          ("POST", "/console/runs/{run}/delete", ACTION)],
    "console/submit/": [("GET", "/console/submit/", OPERATOR_PAGE), ("POST", "/console/submit/", ACTION)],
    "console/escalations/": [("GET", "/console/escalations/", PAGE)],
    # Single sign-on, not configured here (tests/test_oidc.py, tests/test_oidc_browser.py when it is).
    "oidc/authenticate/": [("GET", "/oidc/authenticate/", dict.fromkeys(CALLERS, 404))],
    "oidc/callback/": [("GET", "/oidc/callback/?code=x&state=y", dict.fromkeys(CALLERS, 404))],
    "admin/": [("GET", "/admin/", ADMIN_SITE), ("GET", "/admin/inquiries/run/", ADMIN_SITE),
               ("GET", "/admin/inquiries/run/{run}/change/", ADMIN_SITE),
               ("GET", "/admin/inquiries/inquiry/", ADMIN_SITE)],
}


def test_the_matrix_names_every_route():
    """A new route fails here until somebody decides who may call it."""
    assert set(MATRIX) == _routes()


@pytest.fixture
def client_keys(db) -> dict[str, str]:
    """An API client per entry of CLIENT_SCOPES: who → its key."""
    from inquiries.services import api_client_create

    return {who: api_client_create(name=who, scopes=scopes)[1] for who, scopes in CLIENT_SCOPES.items()}


def _client_for(who: str, users: dict, client_keys: dict) -> tuple[Client, dict]:
    client = Client()
    headers = {"anonymous": {}, "wrong_key": {"X-API-Key": "wk_wrong", "X-Admin-Key": "ak_wrong"},
               "webhook_key": {"X-API-Key": WEBHOOK_KEY}, "admin_key": {"X-Admin-Key": ADMIN_KEY},
               **{name: {"X-API-Key": key} for name, key in client_keys.items()}}.get(who, {})
    if who in users:
        client.force_login(users[who])
    return client, headers


def _body(method: str, path: str) -> dict:
    if path == "/api/v1/webhook":
        return {"data": json.dumps({"sender_name": "Matrix", "sender_email": "matrix@example.com",
                                    "subject": "Matrix", "body": "Does the trial need a card?"}),
                "content_type": "application/json"}
    if path.endswith("/draft"):
        return {"data": {"draft": "Edited"}}
    if path.endswith("/resolve"):
        return {"data": {"note": "done"}}
    if path == "/console/submit/":
        return {"data": {"sender_name": "Matrix", "sender_email": "matrix@example.com", "subject": "Matrix",
                         "body": "Does the trial need a card?"}}
    return {}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", CALLERS)
def test_every_route_answers_each_caller_as_documented_and_leaks_nothing(who, keys, operator, auditor, outsider,
                                                                        client_keys):
    """The roles are the groups as `ensure_role_groups` sets them up; nobody gets extra permissions."""
    users = {"operator": operator, "auditor": auditor, "outsider": outsider}
    seen = []
    for route, calls in MATRIX.items():
        for method, template, expected in calls:
            run = make_run(inquiry=make_inquiry(**PII), status="escalated", intent="support",
                           escalation_reason="high_severity: severity high", draft_response="Hi Priya")
            make_step(run=run, sequence=1)
            client, headers = _client_for(who, users, client_keys)
            path = template.format(run=run.pk)
            response = getattr(client, method.lower())(path, headers=headers, **_body(method, path))
            seen.append((method, path, response.status_code))
            assert response.status_code == expected[who], (who, method, path, response.status_code,
                                                           response.content[:300])
            if response.status_code >= 300 or who in OWN_ONLY or route in ("", "health", "health/live",
                                                                            "health/ready"):
                text = response.content.decode(errors="replace")
                for value in PII.values():
                    assert value not in text, (who, method, path, value)
            if response.status_code in (401, 403) and path.startswith("/api/"):
                assert response.json()["error"] in ("unauthorized", "forbidden")
            if response.status_code == 302 and path.startswith(("/console/", "/admin/")) and \
                    path != "/console/logout/" and not (who == "operator" and method == "POST"):
                assert "/login/" in response["Location"], (who, path, response["Location"])
    assert len(seen) == sum(len(calls) for calls in MATRIX.values())


# --- CSRF on every console form ---------------------------------------------------------------------

CONSOLE_POSTS = ["/console/runs/{run}/assign", "/console/runs/{run}/draft", "/console/runs/{run}/approve",
                 "/console/runs/{run}/send-again",
                 "/console/runs/{run}/resolve", "/console/runs/{run}/replay", "/console/runs/{run}/delete",
                 "/console/runs/{run}/webhooks/999999/redeliver", "/console/submit/", "/console/logout/"]


def test_the_list_of_console_posts_is_complete():
    posting = {route for route, calls in MATRIX.items() for method, _, _ in calls
               if method == "POST" and route.startswith("console/")}
    assert {"/" + r.replace("<uuid:run_id>", "{run}").replace("<int:delivery_id>", "999999")
            for r in posting} == set(CONSOLE_POSTS)


@pytest.mark.django_db
@pytest.mark.parametrize("path", CONSOLE_POSTS)
def test_every_console_form_refuses_a_post_without_the_csrf_token(path, operator, secret_run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    target = path.format(run=secret_run.pk)
    response = client.post(target, _body("POST", target).get("data", {}))
    assert response.status_code == 403
    secret_run.refresh_from_db()
    assert (secret_run.assigned_to_id, secret_run.draft_response) == (None, "Hi Priya")


@pytest.mark.django_db
def test_every_form_on_every_console_page_carries_the_csrf_token(operator, secret_run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    pages = ["/console/", "/console/runs/", f"/console/runs/{secret_run.pk}/", f"/console/runs/{secret_run.pk}/delete",
             "/console/submit/", "/console/escalations/"]
    forms = 0
    for page in pages:
        html = client.get(page).content.decode()
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S | re.I):
            if re.search(r'method="post"', form, flags=re.I):
                forms += 1
                assert 'name="csrfmiddlewaretoken"' in form, (page, form[:200])
    assert forms >= 6
    anonymous = Client(enforce_csrf_checks=True)
    login = anonymous.get("/console/login/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in login
    assert anonymous.post("/console/login/", {"username": "olivia", "password": "pw-for-tests-only"}).status_code == 403


# --- Untrusted text stays inert: console, admin, e-mail ----------------------------------------------

XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>"\'><svg onload=alert(2)>'


@pytest.mark.django_db
def test_html_in_inquiries_and_model_output_is_escaped_everywhere_it_is_shown(operator, admin_client):
    inquiry = make_inquiry(sender_name=XSS, subject=XSS, body=XSS, metadata={"crm": XSS})
    run = make_run(inquiry=inquiry, status="escalated", intent="support", escalation_reason=XSS,
                   draft_response=XSS, handoff_summary=XSS, final_response=XSS, error=XSS)
    make_step(run=run, sequence=1, output=XSS, inputs={"text": XSS}, outputs={"reasoning": XSS})
    client = Client()
    client.force_login(operator)
    pages = {
        "overview": client.get("/console/"), "history": client.get("/console/runs/"),
        "run": client.get(f"/console/runs/{run.pk}/"), "escalations": client.get("/console/escalations/"),
        "admin run": admin_client.get(f"/admin/inquiries/run/{run.pk}/change/"),
        "admin runs": admin_client.get("/admin/inquiries/run/"),
        "admin inquiry": admin_client.get(f"/admin/inquiries/inquiry/{inquiry.pk}/change/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.content.decode()
        for raw in ("<script>alert", "<img src=x", "<svg onload"):
            assert raw not in html, (name, raw)
    assert "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;" in pages["run"].content.decode()
    # JSON is JSON: the run's raw export cannot be sniffed as HTML.
    raw = client.get(f"/console/runs/{run.pk}.json")
    assert raw["Content-Type"].startswith("application/json")
    assert raw["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_reply_e_mails_are_plain_text_so_html_in_them_is_inert(operator):
    from inquiries import services

    run = make_run(inquiry=make_inquiry(sender_name=XSS, sender_email="x@example.com", subject=XSS),
                   status="escalated", intent="support", draft_response=f"Hi,\n{XSS}")
    services.run_reply_approve(run_id=run.pk, user=operator)
    [message] = mail.outbox
    assert message.content_subtype == "plain"
    assert not getattr(message, "alternatives", [])
    assert "\n" not in message.subject
    assert OutboundEmail.objects.get(run=run).status == "sent"


@pytest.mark.django_db
def test_header_injection_through_the_subject_is_impossible(operator):
    from inquiries import services

    run = make_run(inquiry=make_inquiry(subject="Hello\r\nBcc: everyone@example.com", sender_email="x@example.com"),
                   status="escalated", intent="support", draft_response="Hi")
    services.run_reply_approve(run_id=run.pk, user=operator)
    [message] = mail.outbox
    assert message.subject == "Re: Hello Bcc:"  # one line, and the caller's address is not echoed
    assert message.message()["Bcc"] is None
    assert message.recipients() == ["x@example.com"]


# --- Secrets stay out of logs and error bodies ------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_secrets_never_appear_in_logs_or_error_bodies(keys, settings, caplog):
    settings.WEBHOOK_SIGNING_SECRET = SIGNING_SECRET
    secrets = [WEBHOOK_KEY, ADMIN_KEY, SIGNING_SECRET, SIGNING_SECRET.removeprefix("whsec_"), settings.SECRET_KEY,
               settings.DATABASES["default"]["PASSWORD"]]
    secrets = [s for s in secrets if s]
    client = Client()
    body = json.dumps({"sender_name": "A", "sender_email": "a@example.com", "subject": "S", "body": "B"})
    with caplog.at_level(logging.DEBUG):
        answers = [
            client.post("/api/v1/webhook", body, content_type="application/json"),  # no key
            client.post("/api/v1/webhook", body, content_type="application/json",
                        headers={"X-API-Key": WEBHOOK_KEY + "x"}),  # almost the key
            client.post("/api/v1/webhook", body, content_type="application/json",
                        headers={"X-API-Key": WEBHOOK_KEY, "webhook-id": "m1", "webhook-timestamp": "1",
                                 "webhook-signature": "v1,AAAA"}),  # stale, wrong signature
            client.post("/api/v1/webhook", "{bad json", content_type="application/json",
                        headers={"X-API-Key": WEBHOOK_KEY}),
            client.delete("/api/v1/runs/00000000-0000-0000-0000-000000000000", headers={"X-Admin-Key": "ak_x"}),
            client.get("/api/v1/runs?limit=100000", headers={"X-API-Key": WEBHOOK_KEY}),
        ]
    assert [a.status_code for a in answers][:3] == [401, 401, 401]
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    for answer in answers:
        text = answer.content.decode() + str(answer.headers)
        for secret in secrets:
            assert secret not in text
    for secret in secrets:
        assert secret not in logged
    assert WEBHOOK_KEY + "x" not in logged  # nor what a caller offered as a key


def test_a_server_error_answers_the_envelope_without_details(settings):
    from django.test import RequestFactory

    from autoflow.views import server_error

    response = server_error(RequestFactory().get("/boom"))
    body = json.loads(response.content)
    assert response.status_code == 500
    assert set(body) == {"error", "message", "details", "request_id"}
    assert body["details"] == []
    assert "Traceback" not in response.content.decode()
