"""The console in a real headless Chromium (Debian's, driven by Playwright through
`executable_path`), against AutoFlow as real processes: web tier, a qcluster worker and the fake
Ollama answering slowly enough (0.6 s per call) to watch a timeline fill. Screenshots of each
page are saved under test-artifacts/screenshots/ (git-ignored). Every page, its live WebSocket
updates, the admin and the API docs run under our Content-Security-Policy: a violation (the
page's `securitypolicyviolation` event, or Chromium's console report of one) fails the test."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from scripts.common import REPO
from testutils import csp
from testutils.fake_ollama import fake_ollama_process
from testutils.live import kill_worker, live_stack, start_worker

pytestmark = [pytest.mark.services, pytest.mark.browser]

SHOTS = REPO / "test-artifacts" / "screenshots"
PASSWORD = "browser-test-pw-1234"
CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MAKE_OPERATOR = f"""
from django.contrib.auth.models import Group, User
from inquiries.roles import OPERATORS, ensure_role_groups
ensure_role_groups()
user = User.objects.create_user("olivia", password="{PASSWORD}")
user.groups.add(Group.objects.get(name=OPERATORS))
User.objects.create_superuser("root", password="{PASSWORD}")
"""


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    with fake_ollama_process(tmp_path_factory.mktemp("fake-ollama"), mode="slow", delay=0.6) as ollama_url:
        # The model finds no answer in the knowledge base: every run escalates (kb_no_answer).
        httpx.post(f"{ollama_url}/_fake/mode", timeout=5,
                   json={"answers": {"answerable": {"answerable": False, "answer": ""}}}).raise_for_status()
        with live_stack(OLLAMA_BASE_URL=ollama_url, LLM_BACKEND="ollama") as stack:
            for command in (["load_demo_data"], ["shell", "-c", MAKE_OPERATOR]):
                subprocess.run([sys.executable, "manage.py", *command], cwd=REPO, env=stack.env, check=True,
                               capture_output=True)
            stack.ollama_url = ollama_url
            worker = start_worker(stack)
            try:
                yield stack
            finally:
                kill_worker(worker, signal.SIGTERM)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (make test installs Debian's chromium)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def watched_context(browser, console):
    return csp.watched_context(browser, console.url, viewport={"width": 1280, "height": 900})


def sign_in(context, path: str, username: str, landing: str):
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(path)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form [type=submit]")
    page.wait_for_url(landing)
    return page


@pytest.fixture
def page(console, browser):
    context = watched_context(browser, console)
    yield sign_in(context, "/console/login/", "olivia", "**/console/")
    violations = context.csp_violations
    context.close()
    assert violations == []


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_sign_in_submit_a_preset_and_watch_the_timeline_fill_live(page, console):
    deadline = time.monotonic() + 20
    while "process" not in page.inner_text("#workers"):  # the worker reports itself every few seconds
        assert time.monotonic() < deadline, page.inner_text("#workers")
        time.sleep(1)
        page.reload()
    shot(page, "overview")
    page.goto("/console/submit/")
    page.click("#preset-outage")
    assert page.input_value("#id_subject") == "URGENT: production down"
    shot(page, "submit")
    page.click("#submit-form button[type=submit]")
    page.wait_for_url("**/console/runs/*/")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    page.wait_for_selector("#live-state:has-text('Live')")
    page.wait_for_selector("ol.timeline li#step-1")
    assert page.inner_text("#run-status") == "Running"  # the first step arrived while the run was running
    shot(page, "run-in-flight")
    page.wait_for_selector("#run-status:has-text('Escalated')", timeout=60_000)

    assert page.evaluate("window.__sameDocument") is True
    nodes = page.locator("ol.timeline li strong").all_inner_texts()
    assert nodes == ["classify_intent", "faq_node", "handoff_node", "log_audit"]
    assert "Handoff summary" in page.inner_text("#response")
    shot(page, "run-escalated")
    page.goto("/console/")
    assert page.locator("table.bars svg.bar rect").count() >= 1  # the intent mix, drawn without inline style
    shot(page, "overview-with-runs")


def test_pause_holds_updates_back_and_resume_catches_up(page, console):
    page.goto("/console/submit/?preset=faq")
    page.click("#submit-form button[type=submit]")
    page.wait_for_url("**/console/runs/*/")
    page.wait_for_selector("#live-state:has-text('Live')")
    page.click("#live-toggle")
    assert page.inner_text("#live-state") == "Paused"
    assert page.get_attribute("#live-toggle", "aria-pressed") == "true"
    time.sleep(4)  # the run finishes meanwhile (4 model calls of 0.6 s)
    assert page.inner_text("#run-status") == "Running"
    page.click("#live-toggle")
    page.wait_for_selector("#run-status:has-text('Escalated')")


def test_history_filters_live_in_the_url(page, console):
    submit_and_wait(page, "billing")
    page.goto("/console/runs/")
    page.select_option("#id_status", "escalated")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/console/runs/?*status=escalated*")
    rows = page.locator("#run-rows tr")
    assert rows.count() >= 1
    assert all(status == "Escalated" for status in page.locator("#run-rows .status").all_inner_texts())
    shot(page, "history-filtered")
    page.set_viewport_size({"width": 390, "height": 800})
    shot(page, "history-phone")


def submit_and_wait(page, preset: str) -> str:
    page.goto(f"/console/submit/?preset={preset}")
    page.click("#submit-form button[type=submit]")
    page.wait_for_url("**/console/runs/*/")
    page.wait_for_selector("#run-status:has-text('Escalated')", timeout=60_000)
    return page.url.rstrip("/").rsplit("/", 1)[1]


def test_take_over_an_escalation_and_send_the_reply(page, console):
    run_id = submit_and_wait(page, "outage")
    page.goto("/console/escalations/?scope=unassigned")
    shot(page, "escalations")
    page.click(f"#escalation-table #run-{run_id} a")
    page.wait_for_url(f"**/console/runs/{run_id}/")
    page.click("#assign")
    page.wait_for_selector("text=You are now handling this escalation.")
    page.fill("#id_draft", "Hi Tom,\n\nWe found the cause and fixed it.\n\nOlivia")
    page.click("#save-draft")
    page.wait_for_selector("text=Draft saved.")
    page.click("#approve")
    page.wait_for_selector("text=Reply sent to the sender.")
    assert "approved by olivia" in page.inner_text("#response")
    shot(page, "escalation-replied")

    emails = console.sql("SELECT count(*), min(body) FROM inquiries_outboundemail WHERE run_id = %s", [run_id])
    assert emails == [(1, "Hi Tom,\n\nWe found the cause and fixed it.\n\nOlivia")]
    actors = console.sql("SELECT type FROM inquiries_runevent WHERE run_id = %s AND actor_label = 'user:olivia' "
                         "ORDER BY id", [run_id])
    assert [t for (t,) in actors] == ["received", "assigned", "draft_edited", "reply_sent"]  # she submitted it too


def test_new_runs_appear_at_the_top_of_the_history_live(page, console):
    page.add_init_script("document.addEventListener('htmx:wsOpen', () => { window.__wsOpen = true; });")
    page.goto("/console/runs/")
    deadline = time.monotonic() + 30
    # A Python-side poll: wait_for_function compiles its string with eval, which the CSP forbids.
    while not page.evaluate("window.__wsOpen === true"):
        assert time.monotonic() < deadline, "the history's socket did not open"
        page.wait_for_timeout(100)
    page.evaluate("window.__sameDocument = true")
    subject = f"Arrived live {time.time_ns()}"

    response = httpx.post(f"{console.url}/api/v1/webhook", timeout=10, headers={"X-API-Key": console.WEBHOOK_KEY},
                          json={"sender_name": "Nia", "sender_email": "nia@example.com", "subject": subject,
                                "body": "How long is the free trial?"})
    assert response.status_code == 200

    page.wait_for_selector(f"#run-rows tr:first-child:has-text('{subject}')")
    assert page.evaluate("window.__sameDocument") is True
    shot(page, "history-live")


TRIAGE_BODY = ("We were charged twice for invoice INV-2024-0042: $49 per seat for 12 seats on Growth. This is "
               "unacceptable and frankly ridiculous. Also, are you SOC 2 compliant? Our auditor asks. "
               "Reply to billing@studio.example.")


def test_the_run_page_shows_the_triage(page, console):
    """An inquiry submitted in the console and run by the worker: the run page shows what the
    triage read (language, sentiment, band, entities) and the knowledge-base passage the run
    cited; the URL-like and e-mail entities stay plain text."""
    # This once, the model says the passages found answer the inquiry (the module's default: they do not).
    httpx.post(f"{console.ollama_url}/_fake/mode", timeout=5, json={"answers": {"answerable": {
        "answerable": True, "answer": "We are SOC 2 Type II certified."}}}).raise_for_status()
    try:
        page.goto("/console/submit/?preset=billing")
        page.fill("#id_subject", "Charged twice, and a compliance question")
        page.fill("#id_body", TRIAGE_BODY)
        page.click("#submit-form button[type=submit]")
        page.wait_for_url("**/console/runs/*/")
        page.wait_for_selector("#run-status:has-text('Escalated'), #run-status:has-text('Completed')",
                               timeout=60_000)
    finally:
        httpx.post(f"{console.ollama_url}/_fake/mode", timeout=5, json={"answers": {"answerable": {
            "answerable": False, "answer": ""}}}).raise_for_status()
    run_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.reload()
    page.wait_for_selector("#run-sentiment")

    assert page.inner_text("#run-band") == "high confidence"  # the fake model's 0.93 (CONFIDENCE_BAND_HIGH 0.9)
    assert page.inner_text("#run-language").startswith("en English")
    assert page.inner_text("#run-sentiment") in ("Negative", "Very negative")  # VADER: the fake gives none
    entities_text = page.inner_text("#run-entities")
    for text in ("invoice: INV-2024-0042", "$49", "12", "Growth", "billing@studio.example"):
        assert text in entities_text, text
    assert page.locator("#run-entities a").count() == 0  # untrusted: never a link
    assert "Security and compliance" in page.inner_text("#citations")
    assert "SOC 2" in page.inner_text("#citations")
    assert page.locator("#citations blockquote").count() >= 1  # the passage is quoted
    assert page.locator("#run-sentiment").evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    shot(page, "run-triage")
    page.goto("/console/runs/?language=en&band=high")
    assert page.locator(f"#run-{run_id}").count() == 1
    page.goto("/console/runs/?language=de")
    assert page.locator(f"#run-{run_id}").count() == 0
    shot(page, "history-triage")
    page.goto("/console/")
    assert "en English" in page.inner_text("#language-mix")
    assert "high" in page.inner_text("#band-mix")
    shot(page, "overview-triage")


XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def test_html_in_an_inquiry_and_in_model_output_stays_text_in_the_live_page(page, console):
    """The run page swaps server-rendered fragments in over the WebSocket (innerHTML): escaping is
    what keeps a payload inert there. The model's draft carries one too."""
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    httpx.post(f"{console.ollama_url}/_fake/mode", timeout=5,
               json={"answers": {"body": {"body": f"Hi,\n{XSS}\nBest"}}}).raise_for_status()
    try:
        page.goto("/console/submit/?preset=faq")
        page.fill("#id_sender_name", f"Eve {XSS}")
        page.fill("#id_subject", f"Hello {XSS}")
        page.fill("#id_body", f"Is there a trial? {XSS}")
        page.click("#submit-form button[type=submit]")
        page.wait_for_url("**/console/runs/*/")
        page.wait_for_selector("#run-status:has-text('Escalated')", timeout=60_000)
        assert XSS in page.inner_text("main")  # shown as the text it is
        assert "Hi," in page.inner_text("#response")
        page.goto("/console/runs/")
        assert f"Hello {XSS}" in page.inner_text("main")
        assert page.evaluate("window.__xss") is None
        assert page.locator("img[src=x]").count() == 0
        assert dialogs == []
        shot(page, "run-with-html-in-it")
    finally:
        httpx.post(f"{console.ollama_url}/_fake/mode", timeout=5,
                   json={"answers": {"body": {"body": "Hi there,\n\nThanks for your message (fake model).\n\n"
                                                      "Best regards,\nThe AutoFlow team"}}}).raise_for_status()


def test_the_api_docs_run_from_our_origin_under_the_policy(page, console):
    """django-ninja's bundled Swagger UI: every request it makes stays on our origin."""
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/docs")
    page.wait_for_selector(".opblock-summary-path")
    assert "/api/v1/webhook" in page.locator(".opblock-summary-path").all_inner_texts()
    page.screenshot(path=str(SHOTS / "api-docs-top.png"))
    page.locator(".opblock-summary-path", has_text="/api/v1/webhook").first.click()
    page.wait_for_selector(".opblock-body")
    shot(page, "api-docs")
    assert requested
    foreign = [url for url in requested if not url.startswith((console.url, "data:"))]
    assert foreign == []


def test_the_admin_works_under_the_policy(console, browser):
    httpx.post(f"{console.url}/api/v1/webhook", timeout=10, headers={"X-API-Key": console.WEBHOOK_KEY},
               json={"sender_name": "Ada", "sender_email": "ada@example.com", "subject": "For the admin",
                     "body": "Is there an annual plan?"}).raise_for_status()
    context = watched_context(browser, console)
    try:
        page = sign_in(context, "/admin/login/?next=/admin/", "root", "**/admin/")
        page.goto("/admin/inquiries/run/")
        page.wait_for_selector("#result_list")
        page.check("#action-toggle")  # the changelist's own script selects every row
        assert page.locator("input.action-select:checked").count() == page.locator("input.action-select").count()
        shot(page, "admin-runs")
        page.click("#result_list tbody tr:first-child th a")
        page.wait_for_selector("#content-main fieldset")
        shot(page, "admin-run")
    finally:
        violations = context.csp_violations
        context.close()
    assert violations == []
