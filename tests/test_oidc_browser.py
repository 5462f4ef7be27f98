"""Single sign-on end to end: headless Chromium (Debian's, through Playwright) signs in to AutoFlow
(real web tier, OIDC_ONLY=true) through a real OpenID Connect provider on loopback, the certified
npm `oidc-provider` (testutils/oidc.py). An operator reaches the console, an auditor the admin
read-only, an account in neither group is refused with a page saying why, local passwords are
refused, and every sign-in is in the audit log. Pages run under our Content-Security-Policy."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from scripts.common import REPO
from testutils import oidc
from testutils.csp import watched_context
from testutils.live import live_stack

pytestmark = [pytest.mark.services, pytest.mark.browser]

CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "local-password-for-tests-1234"
MAKE_LOCAL_ADMIN = f"""
from django.contrib.auth.models import User
User.objects.create_superuser("root", password="{PASSWORD}")
"""
READ_AUDIT = """
import json
from inquiries.models import AuditEntry
print(json.dumps([[e.action, e.target, e.detail] for e in AuditEntry.objects.order_by("id")]))
"""
READ_USERS = """
import json
from django.contrib.auth.models import User
print(json.dumps({u.username: [u.is_staff, u.has_usable_password(), sorted(g.name for g in u.groups.all())]
                  for u in User.objects.all()}))
"""


def manage_shell(stack, code: str):
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=REPO, env=stack.env, check=True,
                          capture_output=True, text=True)
    last = done.stdout.strip().splitlines()[-1:] or [""]  # after the shell's own notice
    return json.loads(last[0]) if last[0].startswith(("[", "{")) else None


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    issuer = oidc.reserve_issuer()
    with live_stack(OIDC_RP_CLIENT_ID=oidc.CLIENT_ID, OIDC_RP_CLIENT_SECRET=oidc.CLIENT_SECRET, OIDC_OP_ISSUER=issuer,
                    OIDC_RP_SCOPES="openid email profile groups", OIDC_PROVIDER_NAME="Example ID",
                    OIDC_OPERATOR_GROUPS=oidc.OPERATOR_GROUP, OIDC_AUDITOR_GROUPS=oidc.AUDITOR_GROUP,
                    OIDC_ONLY="true") as live:
        manage_shell(live, MAKE_LOCAL_ADMIN)
        with oidc.oidc_provider(tmp_path_factory.mktemp("oidc"), issuer, f"{live.url}/oidc/callback/"):
            yield live


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (make test installs Debian's chromium)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser, stack):
    context = watched_context(browser, stack.url)
    yield context
    context.close()
    assert context.csp_violations == []


def sso_sign_in(context, start: str, login: str):
    """Through the provider's development pages: the login form (any password), then consent."""
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(start)
    page.click("#sso-sign-in")
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_selector("button:has-text('Continue')")
    page.click("button:has-text('Continue')")
    return page


def test_an_operator_signs_in_with_the_provider_and_reaches_the_console(context, stack):
    page = sso_sign_in(context, "/console/login/", "olivia")
    page.wait_for_url("**/console/")
    assert "Sign in" not in page.title()
    page.goto("/console/submit/")  # operators only
    assert page.locator("#id_subject").count() == 1
    users = manage_shell(stack, READ_USERS)
    assert users["olivia"] == [True, False, ["operators"]]  # no usable local password


def test_an_auditor_reaches_the_admin_read_only(context, stack):
    page = sso_sign_in(context, "/admin/login/?next=/admin/", "audrey")
    page.wait_for_url("**/admin/")
    page.goto("/admin/inquiries/run/")
    assert page.locator("#changelist").count() == 1
    assert page.locator("a.addlink").count() == 0  # read-only: no "Add"
    response = page.goto("/admin/inquiries/knowledgearticle/add/")
    assert response.status == 403
    assert manage_shell(stack, READ_USERS)["audrey"] == [True, False, ["auditors"]]


def test_an_account_in_neither_group_is_refused_with_a_page_that_says_why(context, stack):
    page = sso_sign_in(context, "/console/login/", "nina")
    page.wait_for_selector("#sso-refusal")
    assert "neither the operator nor the auditor role" in page.inner_text("#sso-refusal")
    assert "nina" not in manage_shell(stack, READ_USERS)  # no account is made
    page.goto("/console/")
    page.wait_for_url("**/console/login/**")


def test_local_passwords_are_refused_when_sign_in_is_oidc_only(context, stack):
    page = context.new_page()
    page.goto("/console/login/")
    assert page.locator("#id_password").count() == 0  # the form is gone; a scripted post is refused:
    token = "a" * 32  # a CSRF secret of our own, as cookie and field alike (there is no form to take one from)
    for path in ("/admin/login/?next=/admin/", "/console/login/"):
        with httpx.Client(base_url=stack.url, cookies={"csrftoken": token}, timeout=10) as client:
            refused = client.post(path, data={"csrfmiddlewaretoken": token, "username": "root", "password": PASSWORD})
            assert refused.status_code == 200, refused.status_code  # the form again, not a redirect
            assert "Password sign-in is off" in refused.text
            assert "sessionid" not in client.cookies
    page.goto("/admin/")
    page.wait_for_url("**/admin/login/**")


def test_every_sign_in_is_in_the_audit_log(browser, stack):
    for login, start, landed in (("olivia", "/console/login/", "**/console/"), ("audrey", "/admin/login/?next=/admin/", "**/admin/")):
        with browser.new_context(base_url=stack.url) as fresh:  # each signs in at the provider anew
            sso_sign_in(fresh, start, login).wait_for_url(landed)
    with browser.new_context(base_url=stack.url) as fresh:
        sso_sign_in(fresh, "/console/login/", "nina").wait_for_selector("#sso-refusal")
    entries = manage_shell(stack, READ_AUDIT)
    signed_in = [(target, detail["method"], detail["roles"]) for action, target, detail in entries
                 if action == "sign_in"]
    assert ("olivia", "oidc", ["operators"]) in signed_in
    assert ("audrey", "oidc", ["auditors"]) in signed_in
    kinds = {(target, detail["sign_in"]) for action, target, detail in entries if action == "sign_in"}
    assert {("olivia", "console"), ("audrey", "admin")} <= kinds
    refused = [detail for action, target, detail in entries if action == "sign_in_refused"]
    assert {"method": "oidc", "reason": "no_role", "sign_in": "console"} in refused
    assert not any(target == "root" for action, target, _ in entries if action == "sign_in")
