"""Single sign-on's parts in process (dashboard/oidc.py, autoflow/settings_oidc.py): off when not
configured, the role claim's mapping and re-sync, the settings OIDC_ONLY and the provider's origin
make, and the audit entry of a password sign-in. The whole flow against a real provider in a
real browser is tests/test_oidc_browser.py."""

import json
import subprocess
import sys

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings

from dashboard.oidc import roles_from, sync_roles
from inquiries.models import AuditAction, AuditEntry
from inquiries.roles import AUDITORS, OPERATORS, ensure_role_groups
from scripts.common import REPO

PASSWORD = "pw-for-tests-only"
SSO = {"OIDC_ROLE_CLAIM": "groups", "OIDC_OPERATOR_GROUPS": ["ops", "admins"], "OIDC_AUDITOR_GROUPS": ["audit"]}
READ_SETTINGS = """
import json
from django.conf import settings
print(json.dumps([settings.OIDC_ENABLED, settings.OIDC_ONLY, settings.AUTHENTICATION_BACKENDS,
                  settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"]]))
"""


def settings_under(**env: str) -> list:
    environment = {"DJANGO_SETTINGS_MODULE": "autoflow.settings", "APP_ENV": "development", "PATH": "/usr/bin:/bin", **env}
    done = subprocess.run([sys.executable, "-c", f"import django; django.setup()\n{READ_SETTINGS}"], cwd=REPO,
                          env=environment, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_off_unless_a_client_id_is_configured():
    enabled, only, backends, form_action = settings_under(OIDC_ONLY="true")
    assert (enabled, only) == (False, False)
    assert backends == ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
    assert form_action == ["'self'"]


def test_oidc_only_leaves_no_password_backend_and_the_provider_is_a_form_target():
    sso = {"OIDC_RP_CLIENT_ID": "autoflow", "OIDC_OP_ISSUER": "https://login.example.com/realms/co/"}
    enabled, only, backends, form_action = settings_under(**sso)
    assert (enabled, only) == (True, False)
    assert "django.contrib.auth.backends.ModelBackend" in backends
    assert "dashboard.oidc.OIDCBackend" in backends
    assert form_action == ["'self'", "https://login.example.com"]
    _, only, backends, _ = settings_under(**sso, OIDC_ONLY="true")
    assert only is True
    assert backends == ["axes.backends.AxesStandaloneBackend", "dashboard.oidc.OIDCBackend"]


@override_settings(**SSO)
def test_the_role_claim_maps_to_the_console_roles():
    assert roles_from({"groups": ["staff", "ops"]}) == [OPERATORS]
    assert roles_from({"groups": ["audit", "admins"]}) == [OPERATORS, AUDITORS]
    assert roles_from({"groups": "audit"}) == [AUDITORS]  # one string is one value
    assert roles_from({"groups": ["opsx", "aud"]}) == []  # whole values only
    assert roles_from({}) == []
    with override_settings(OIDC_ROLE_CLAIM="roles"):
        assert roles_from({"roles": ["ops"], "groups": ["audit"]}) == [OPERATORS]


@pytest.mark.django_db
def test_roles_are_re_synced_and_a_user_without_one_loses_staff(django_user_model):
    ensure_role_groups()
    user = django_user_model.objects.create_user("dora", password=PASSWORD)
    other = Group.objects.create(name="newsletter")
    user.groups.add(other)
    sync_roles(user, [OPERATORS])
    assert sorted(g.name for g in user.groups.all()) == ["newsletter", OPERATORS]
    assert user.is_staff
    sync_roles(user, [AUDITORS])
    assert sorted(g.name for g in user.groups.all()) == [AUDITORS, "newsletter"]
    sync_roles(user, [])
    user.refresh_from_db()
    assert [g.name for g in user.groups.all()] == ["newsletter"]
    assert not user.is_staff


@pytest.mark.django_db
def test_not_configured_no_button_and_its_pages_are_not_found(client):
    assert "Sign in with" not in client.get("/console/login/").text
    assert "Sign in with" not in client.get("/admin/login/").text
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


@pytest.mark.django_db
@override_settings(OIDC_ENABLED=True, OIDC_PROVIDER_NAME="Example ID")
def test_configured_both_sign_in_pages_offer_the_provider(client):
    console = client.get("/console/login/").text
    assert 'href="/oidc/authenticate/?next=/console/"' in console
    assert "Sign in with Example ID" in console
    assert 'id="id_password"' in console  # local passwords too, unless OIDC_ONLY
    admin = client.get("/admin/login/?next=/admin/").text
    assert 'href="/oidc/authenticate/?next=/admin/"' in admin
    assert "Sign in with Example ID" in admin
    with override_settings(OIDC_ONLY=True):
        assert 'id="id_password"' not in client.get("/console/login/").text
        assert 'id="id_password"' not in client.get("/admin/login/").text


@pytest.mark.django_db
def test_a_password_sign_in_is_audited(client, django_user_model):
    django_user_model.objects.create_user("paula", password=PASSWORD, is_staff=True)
    assert client.post("/console/login/", {"username": "paula", "password": PASSWORD}).status_code == 302
    entry = AuditEntry.objects.get(action=AuditAction.SIGN_IN)
    assert (entry.target, entry.actor_label, entry.detail) == ("paula", "user:paula",
                                                               {"method": "password", "sign_in": "console"})


@pytest.mark.django_db
@override_settings(**SSO)
def test_each_sign_in_re_syncs_the_roles_and_refuses_a_user_without_one(rf, django_user_model, monkeypatch):
    """The backend's decision on the claims the provider vouched for (the token exchange and its
    checks are mozilla-django-oidc's, exercised end to end in tests/test_oidc_browser.py)."""
    from django.contrib.sessions.backends.db import SessionStore

    from dashboard.oidc import OIDCBackend

    ensure_role_groups()
    existing = _user_with_role(django_user_model)
    claims = {}
    monkeypatch.setattr(OIDCBackend, "get_userinfo", lambda self, *args: claims)

    def sign_in(**vouched):
        claims.clear()
        claims.update({"sub": "s-1", "email": "Eve@Example.com", "email_verified": True, **vouched})
        request = rf.get("/oidc/callback/", REMOTE_ADDR="192.0.2.7")
        request.session = SessionStore()
        backend = OIDCBackend()
        backend.request = request
        return backend.get_or_create_user("access", "id", {}), request

    user, request = sign_in(groups=["audit"])
    assert user is None  # a local account with a password: never taken over by an asserted e-mail
    assert request.oidc_refusal == "local_account"
    existing.refresh_from_db()
    assert [g.name for g in existing.groups.all()] == [OPERATORS]
    existing.set_unusable_password()
    existing.save()
    user, _ = sign_in(groups=["audit"])
    assert user == existing  # an account single sign-on made: matched by the e-mail address
    assert [g.name for g in user.groups.all()] == [AUDITORS]
    user, request = sign_in(groups=["nothing"])
    assert user is None
    assert request.oidc_refusal == "no_role"
    existing.refresh_from_db()
    assert (list(existing.groups.all()), existing.is_staff) == ([], False)
    refused = AuditEntry.objects.filter(action=AuditAction.SIGN_IN_REFUSED).latest("pk")
    assert (refused.target, refused.ip, refused.detail) == (
        "eve", "192.0.2.7", {"method": "oidc", "reason": "no_role", "sign_in": "console"})
    assert sign_in(groups=["ops"], email="new@example.com", preferred_username="eve")[0] is not None
    newcomer = django_user_model.objects.get(email="new@example.com")
    assert newcomer.username != "eve"  # taken: a name of its own
    assert not newcomer.has_usable_password()
    for unverified in (False, "false", None):  # false, a string some providers send, or not said
        assert sign_in(groups=["ops"], email="other@example.com", email_verified=unverified)[0] is None
    assert not django_user_model.objects.filter(email="other@example.com").exists()


def _user_with_role(django_user_model):
    user = django_user_model.objects.create_user("eve", email="eve@example.com", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATORS))
    return user
