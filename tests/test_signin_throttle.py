"""Sign-in is throttled per account and per address (django-axes, dashboard/signin.py): after
LOGIN_FAILURE_LIMIT failures for an account (from any addresses) or from an address (for any
accounts), the console's and the admin's sign-in answer 429 for LOGIN_LOCKOUT_MINUTES, the right
password included; the lock-out is audited once; the cool-off ends it, and so does axes_reset."""

import logging
from datetime import timedelta

import pytest
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.core.management import call_command
from django.utils import timezone

from inquiries.models import AuditAction, AuditEntry

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-1234"
CONSOLE, ADMIN = "/console/login/", "/admin/login/"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD, is_staff=True)


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password=PASSWORD, is_staff=True)


def sign_in(client, username: str, password: str, ip: str, path: str = CONSOLE):
    """One sign-in POST from `ip` (an address no proxy of ours speaks for), in a fresh session."""
    client.cookies.clear()
    data = {"username": username, "password": password}
    if path == ADMIN:
        data.update({"this_is_the_login_form": "1", "next": "/admin/"})
    return client.post(path, data, REMOTE_ADDR=ip)


def signed_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.wsgi_request.session


def test_the_limits_come_from_the_settings(settings):
    assert (settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_LOCKOUT_MINUTES) == (5, 15)
    assert settings.AXES_FAILURE_LIMIT == settings.LOGIN_FAILURE_LIMIT
    assert get_cool_off() == timedelta(minutes=15)
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]  # each on its own


def test_failures_from_many_addresses_lock_the_account(client, alice, bob, caplog):
    answers = [sign_in(client, "alice", "wrong", f"198.51.100.{n}").status_code for n in range(1, 6)]
    assert answers == [200, 200, 200, 200, 429]  # the form again, then the lock-out

    for path in (CONSOLE, ADMIN):
        refused = sign_in(client, "alice", PASSWORD, "203.0.113.50", path)
        assert refused.status_code == 429
        assert not signed_in(refused)
        assert "Sign-in paused" in refused.content.decode()
        assert refused["Retry-After"] == "900"
    # The addresses are not locked: one failure each. Another account signs in from them.
    assert signed_in(sign_in(client, "bob", PASSWORD, "198.51.100.1"))

    [entry] = AuditEntry.objects.filter(action=AuditAction.LOGIN_LOCKED_OUT)  # once, not per attempt
    assert (entry.actor, entry.actor_label, entry.target, entry.ip) == (None, "", "alice", "198.51.100.5")
    assert entry.detail["locked"] == ["username"]
    assert entry.detail["failure_limit"] == 5
    assert entry.detail["sign_in"] == "console"
    warnings = [r for r in caplog.records if r.name == "autoflow.audit" and r.levelno == logging.WARNING]
    assert any("login_locked_out alice" in r.getMessage() and "198.51.100.5" in r.getMessage() for r in warnings)


def test_failures_from_one_address_lock_the_address_for_every_account(client, alice, bob):
    ip = "192.0.2.77"
    answers = [sign_in(client, name, "wrong", ip, ADMIN).status_code
               for name in ("mallory", "trent", "victor", "walter", "peggy")]
    assert answers == [200, 200, 200, 200, 429]

    assert sign_in(client, "alice", PASSWORD, ip).status_code == 429
    assert sign_in(client, "bob", PASSWORD, ip, ADMIN).status_code == 429
    # The accounts are not locked: from another address they sign in.
    assert signed_in(sign_in(client, "alice", PASSWORD, "192.0.2.78"))
    assert signed_in(sign_in(client, "bob", PASSWORD, "192.0.2.79", ADMIN))

    [entry] = AuditEntry.objects.filter(action=AuditAction.LOGIN_LOCKED_OUT)
    assert (entry.target, entry.ip, entry.detail["locked"], entry.detail["sign_in"]) == (
        "peggy", ip, ["ip_address"], "admin")


def test_the_lock_out_ends_after_the_cool_off(client, alice):
    for n in range(5):
        sign_in(client, "alice", "wrong", f"198.51.100.{n + 1}")
    assert sign_in(client, "alice", PASSWORD, "198.51.100.9").status_code == 429

    # 14 minutes later (the last refusal restarted the pause), still locked; after 15, not.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=14))
    assert sign_in(client, "alice", PASSWORD, "198.51.100.9").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=5))
    assert signed_in(sign_in(client, "alice", PASSWORD, "198.51.100.9"))


def test_axes_reset_lifts_a_lock_out_at_once(client, alice):
    for n in range(5):
        sign_in(client, "alice", "wrong", f"198.51.100.{n + 1}")
    assert sign_in(client, "alice", PASSWORD, "198.51.100.9").status_code == 429
    call_command("axes_reset", verbosity=0)
    assert signed_in(sign_in(client, "alice", PASSWORD, "198.51.100.9"))
    # And a new series of failures is a new lock-out, audited again.
    for n in range(5):
        sign_in(client, "alice", "wrong", f"198.51.100.{n + 1}")
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN_LOCKED_OUT, target="alice").count() == 2


def test_a_smaller_limit_from_the_settings_applies(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    assert [sign_in(client, "alice", "wrong", "198.51.100.1").status_code for _ in range(2)] == [200, 429]
