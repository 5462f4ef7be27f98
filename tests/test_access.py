"""Access rules that need settings changed per test (docs/api.md, "Keys and scopes"):
fail-closed auth, signed requests' idempotency across callers, cursor pagination and bounded
counts, the read rate limit, the statement timeout, and provisioning keys from the command line.
In-process (Django's test client) against the real PostgreSQL and Redis; the same rules over
real HTTP and WebSockets are in tests/test_access_live.py."""

import base64
import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from core.redis_client import get_redis, reset_redis_pool
from inquiries.models import ApiClient, IdempotencyRecord, Run
from inquiries.services import api_client_create
from testutils.factories import make_inquiry, make_run
from testutils.inquiries import inquiry
from testutils.signing import signed_headers

pytestmark = pytest.mark.django_db
SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()


@pytest.fixture(autouse=True)
def _clean_hot_plane():
    get_redis().flushdb()
    yield
    reset_redis_pool()


def post(client, body: bytes | None = None, **headers):
    return client.post("/api/v1/webhook", data=body or json.dumps(inquiry()), content_type="application/json",
                       headers=headers)


# --- Fail closed -------------------------------------------------------------------------------------

def test_auth_is_required_as_soon_as_an_api_client_exists_even_without_keys(client, settings):
    settings.WEBHOOK_API_KEY = settings.AUTOFLOW_ADMIN_API_KEY = ""
    open_run = post(client).json()["run_id"]  # a fresh development install: open
    assert client.get(f"/api/v1/status/{open_run}").status_code == 200
    _, key = api_client_create(name="form")
    from inquiries.api.v1.auth import forget_cached_clients

    forget_cached_clients()  # what the other processes see within seconds
    for response in (post(client), client.get(f"/api/v1/status/{open_run}"), client.get("/api/v1/runs"),
                     client.delete(f"/api/v1/runs/{open_run}"), post(client, X_API_Key="af_not-a-key")):
        assert response.status_code == 401, response.content
        assert response.json()["error"] == "unauthorized"
    assert Run.objects.filter(pk=open_run).exists()
    mine = post(client, **{"X-API-Key": key})
    assert mine.status_code == 200
    # A revoked client still counts: revoking every key does not reopen the API.
    ApiClient.objects.update(is_active=False)
    forget_cached_clients()
    assert post(client).status_code == 401


def test_the_admin_key_alone_closes_the_api(client, settings):
    settings.WEBHOOK_API_KEY, settings.AUTOFLOW_ADMIN_API_KEY = "", "ak_only_admin_key_configured"
    assert post(client).status_code == 401
    assert client.get("/api/v1/runs").status_code == 401


# --- A signed request's webhook-id is its only idempotency key ----------------------------------------

def test_a_captured_signed_request_cannot_be_replayed_with_another_key_or_idempotency_key(client, settings):
    settings.WEBHOOK_API_KEY, settings.WEBHOOK_SIGNING_SECRET = "wk_bootstrap_key_for_tests", SECRET
    _, other_key = api_client_create(name="other")
    body = json.dumps(inquiry()).encode()
    signature = signed_headers(body, secret=SECRET)
    first = post(client, body, **{"X-API-Key": "wk_bootstrap_key_for_tests"}, **signature)
    assert first.status_code == 200, first.content
    # The same capture with an Idempotency-Key of its own: still the same run, nothing new stored.
    again = post(client, body, **{"X-API-Key": "wk_bootstrap_key_for_tests", "Idempotency-Key": "fresh-1"},
                 **signature)
    assert (again.json()["run_id"], again.json()["idempotent_replay"]) == (first.json()["run_id"], True)
    # Under another caller's key: refused, and that caller learns neither the run nor a token for it.
    stolen = post(client, body, **{"X-API-Key": other_key, "Idempotency-Key": "fresh-2"}, **signature)
    assert stolen.status_code == 422
    assert stolen.json()["error"] == "idempotency_key_reused"
    assert first.json()["run_id"] not in stolen.content.decode()
    assert Run.objects.count() == 1
    assert list(IdempotencyRecord.objects.values_list("caller", "key")) == [("signed", signature["webhook-id"])]


# --- Lists: cursors, capped offsets, bounded counts ---------------------------------------------------

def _runs(n: int) -> list[str]:
    return [str(make_run(inquiry=make_inquiry(subject=f"Run {i}")).pk) for i in range(n)]


def test_cursor_pagination_walks_every_run_once_newest_first(admin_client):
    created = _runs(23)
    seen, cursor, pages = [], None, 0
    while True:
        response = admin_client.get("/api/v1/runs", {"limit": 10, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200
        assert response["X-Total-Count"] == "23"
        seen += [row["run_id"] for row in response.json()]
        pages += 1
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            break
        assert f"cursor={cursor}" in response["Link"]
    assert pages == 3
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))
    ordered = list(Run.objects.order_by("-created_at", "-pk").values_list("pk", flat=True))
    assert seen == [str(pk) for pk in ordered]


@pytest.mark.parametrize("query", [{"cursor": "not-a-cursor"}, {"cursor": base64.urlsafe_b64encode(b"x|y").decode()},
                                   {"offset": 10_001}, {"cursor": "\x00"}])
def test_bad_cursors_and_deep_offsets_are_refused_with_422(admin_client, query):
    response = admin_client.get("/api/v1/runs", query)
    assert response.status_code == 422, response.content
    assert response.json()["error"] == "validation_error"


def test_the_total_is_exact_up_to_the_bound_then_estimated(admin_client, settings):
    _runs(8)
    settings.RUN_LIST_EXACT_COUNT_UP_TO = 20
    exact = admin_client.get("/api/v1/runs")
    assert (exact["X-Total-Count"], exact.headers.get("X-Total-Count-Estimated")) == ("8", None)
    settings.RUN_LIST_EXACT_COUNT_UP_TO = 5
    estimated = admin_client.get("/api/v1/runs")
    assert estimated["X-Total-Count-Estimated"] == "true"
    assert int(estimated["X-Total-Count"]) >= 6  # never below what was counted


# --- The read rate limit -----------------------------------------------------------------------------

def test_reads_are_rate_limited_per_key(client, settings):
    settings.WEBHOOK_API_KEY = "wk_bootstrap_key_for_tests"
    settings.READ_RATE_LIMIT = "3/m"
    _, other = api_client_create(name="reader", scopes=["read_all"])
    mine = {"X-API-Key": "wk_bootstrap_key_for_tests"}
    answers = [client.get("/api/v1/runs", headers=mine) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0]["RateLimit-Limit"] == "3"
    assert answers[2]["RateLimit-Remaining"] == "0"
    assert answers[3].json()["error"] == "rate_limited"
    assert int(answers[3]["Retry-After"]) >= 1
    assert client.get("/api/v1/runs", headers={"X-API-Key": other}).status_code == 200  # its own budget


# --- The statement timeout ---------------------------------------------------------------------------

def test_every_connection_runs_under_the_production_statement_timeout(settings):
    assert settings.DB_STATEMENT_TIMEOUT_MS == 15_000  # the default a customer runs
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "15s"


# --- Provisioning from the command line --------------------------------------------------------------

def test_api_client_command_creates_lists_and_revokes(client, settings):
    settings.WEBHOOK_API_KEY = "wk_bootstrap_key_for_tests"
    out, err = io.StringIO(), io.StringIO()
    call_command("api_client", "create", "crm", "--scopes", "intake,read_all", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert key.startswith("af_")
    assert "\n" not in key
    assert "shown only this once" in err.getvalue()
    assert ApiClient.objects.get(name="crm").scopes == ["intake", "read_all"]
    assert post(client, **{"X-API-Key": key}).status_code == 200
    call_command("api_client", "create", "form", stdout=io.StringIO(), stderr=io.StringIO())
    assert ApiClient.objects.get(name="form").scopes == ["intake", "read_own"]  # the default
    listing = io.StringIO()
    call_command("api_client", "list", "--json", stdout=listing)
    rows = {row["name"]: row for row in json.loads(listing.getvalue())}
    assert rows["crm"]["scopes"] == ["intake", "read_all"]
    assert key not in listing.getvalue()
    call_command("api_client", "revoke", "crm", stdout=io.StringIO())
    from inquiries.api.v1.auth import forget_cached_clients

    forget_cached_clients()
    assert post(client, **{"X-API-Key": key}).status_code == 401
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("api_client", "create", "bad", "--scopes", "intake,root", stdout=io.StringIO())
    with pytest.raises(CommandError, match="exists already"):
        call_command("api_client", "create", "form", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="No API client"):
        call_command("api_client", "revoke", "nobody-" + uuid.uuid4().hex[:6], stdout=io.StringIO())


def test_scopes_are_edited_in_the_admin_and_shown_in_its_list(admin_client):
    page = admin_client.get("/admin/inquiries/apiclient/add/").content.decode()
    assert 'type="checkbox" name="scopes" value="read_all"' in page
    response = admin_client.post("/admin/inquiries/apiclient/add/", {
        "name": "partner", "is_active": "on", "scopes": ["intake", "delete"], "rate_limit": "", "notes": ""})
    assert response.status_code == 302, response.content[:500]
    partner = ApiClient.objects.get(name="partner")
    assert partner.scopes == ["delete", "intake"]
    response = admin_client.post(f"/admin/inquiries/apiclient/{partner.pk}/change/", {
        "name": "partner", "is_active": "on", "scopes": ["read_own"], "rate_limit": "", "notes": ""})
    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.scopes == ["read_own"]
    listing = admin_client.get("/admin/inquiries/apiclient/").content.decode()
    assert "read_own" in listing
    bad = admin_client.post(f"/admin/inquiries/apiclient/{partner.pk}/change/", {
        "name": "partner", "is_active": "on", "scopes": ["superuser"], "rate_limit": "", "notes": ""})
    assert bad.status_code == 200  # the form shows the error; nothing saved
    partner.refresh_from_db()
    assert partner.scopes == ["read_own"]
