"""Production limits, shortened to be seen on the live web tier:

- long-lived console pages in real headless Chromium: the server closes every socket after
  WEBSOCKET_MAX_LIFETIME_SECONDS (3 s here) with 4012, the page reconnects on its own, re-reads
  what it may have missed, and keeps updating live afterwards — the history's rows and a run's
  timeline alike; an API socket gets the same close code through daphne;
- a statement that waits too long (DB_STATEMENT_TIMEOUT_MS, 1.5 s here; the 15 s production
  default is asserted in tests/test_access.py) is cut off with a 503, not left holding a worker."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from scripts.common import REPO
from testutils.inquiries import assert_error
from testutils.live import kill_worker, live_stack, start_worker

pytestmark = [pytest.mark.services, pytest.mark.browser]

PASSWORD = "reconnect-test-pw-1234"
CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
MAKE_OPERATOR = f"""
from django.contrib.auth.models import Group, User
from inquiries.roles import OPERATORS, ensure_role_groups
ensure_role_groups()
User.objects.create_user("rita", password="{PASSWORD}").groups.add(Group.objects.get(name=OPERATORS))
"""


@pytest.fixture(scope="module")
def stack():
    with live_stack(WEBSOCKET_MAX_LIFETIME_SECONDS="3", DB_STATEMENT_TIMEOUT_MS="1500", LLM_BACKEND="builtin") as live:
        subprocess.run([sys.executable, "manage.py", "shell", "-c", MAKE_OPERATOR], cwd=REPO, env=live.env,
                       check=True, capture_output=True)
        yield live


@pytest.fixture
def page(stack):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = chromium.new_context(base_url=stack.url).new_page()
            page.set_default_timeout(30_000)
            page.goto("/console/login/")
            page.fill("#id_username", "rita")
            page.fill("#id_password", PASSWORD)
            page.click("form button[type=submit]")
            page.wait_for_url("**/console/")
            yield page
        finally:
            chromium.close()


class Sockets:
    """The page's WebSockets to one path, as Chromium saw them open and close."""

    def __init__(self, page, path: str):
        self.opened, self.closed = [], []
        page.on("websocket", lambda ws: self._track(ws) if path in ws.url else None)

    def _track(self, ws) -> None:
        self.opened.append(ws.url)
        ws.on("close", lambda _ws: self.closed.append(ws.url))

    def wait_for_reconnect(self, page, *, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not (self.closed and len(self.opened) >= 2):
            assert time.monotonic() < deadline, (self.opened, self.closed)
            page.wait_for_timeout(200)


def _submit(stack, subject: str) -> str:
    response = httpx.post(f"{stack.url}/api/v1/webhook", timeout=10, headers={"X-API-Key": stack.WEBHOOK_KEY},
                          json={"sender_name": "Rae", "sender_email": "rae@example.com", "subject": subject,
                                "body": "How long is the free trial?"})
    assert response.status_code == 200
    return response.json()["run_id"]


def test_the_history_reconnects_after_the_sockets_lifetime_rereads_and_stays_live(page, stack):
    sockets = Sockets(page, "/ws/runs/")
    rereads = []
    page.on("request", lambda r: rereads.append(r.url) if r.headers.get("hx-request") and "/console/runs/" in r.url
            else None)
    page.goto("/console/runs/")
    page.evaluate("window.__sameDocument = true")
    worker = start_worker(stack)
    try:
        # While the first socket is open, a run arrives; then the server ends the socket.
        before = f"Before the reconnect {time.time_ns()}"
        _submit(stack, before)
        sockets.wait_for_reconnect(page)
        page.wait_for_selector(f"#run-rows tr:has-text('{before}')")
        deadline = time.monotonic() + 10
        while not rereads:  # history.js re-read the results after the reconnect
            assert time.monotonic() < deadline, "the page did not re-read after reconnecting"
            page.wait_for_timeout(200)
        page.wait_for_timeout(1500)  # the re-read's own socket opens
        after = f"After the reconnect {time.time_ns()}"
        _submit(stack, after)
        page.wait_for_selector(f"#run-rows tr:first-child:has-text('{after}')", timeout=30_000)
        assert page.evaluate("window.__sameDocument") is True  # no reload: all of it live
    finally:
        kill_worker(worker, signal.SIGTERM)


def test_a_run_page_reconnects_and_shows_what_happened_after(page, stack):
    run_id = _submit(stack, f"Watched across a reconnect {time.time_ns()}")
    sockets = Sockets(page, f"/ws/runs/{run_id}/")
    page.goto(f"/console/runs/{run_id}/")
    page.evaluate("window.__sameDocument = true")
    assert page.inner_text("#run-status") == "Running"  # no worker yet: the run waits in the queue
    sockets.wait_for_reconnect(page)
    page.wait_for_selector("#live-state:has-text('Live')")
    worker = start_worker(stack)
    try:
        # (A selector, not wait_for_function: the page's CSP forbids the eval that one needs.)
        page.wait_for_selector("#run-status.status-completed, #run-status.status-escalated", timeout=60_000)
        assert page.inner_text("#run-status") in ("Completed", "Escalated")
        assert page.evaluate("window.__sameDocument") is True
    finally:
        kill_worker(worker, signal.SIGTERM)


def test_an_api_socket_ends_its_lifetime_with_the_reconnect_code_through_daphne(stack):
    """The close code goes through the real server (daphne sends only 1000 and 3000-4999)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    accepted = httpx.post(f"{stack.url}/api/v1/webhook", timeout=10, headers={"X-API-Key": stack.WEBHOOK_KEY},
                          json={"sender_name": "Rae", "sender_email": "rae@example.com", "subject": "Socket",
                                "body": "How long is the free trial?"}).json()
    started = time.monotonic()
    code = None
    with connect(stack.url.replace("http://", "ws://") + accepted["ws_url"], open_timeout=10) as ws:
        try:
            for _ in range(20):  # a snapshot, heartbeats, then the close
                ws.recv(timeout=10)
        except ConnectionClosed as closed:
            code = closed.rcvd.code
    assert code == 4012
    assert 2.5 < time.monotonic() - started < 8


def test_a_statement_that_waits_too_long_is_cut_off_and_answered_503(stack):
    locked, release = threading.Event(), threading.Event()

    def hold_the_table():
        with psycopg.connect(stack.env["DATABASE_URL"]) as conn, conn.transaction():
            conn.execute("LOCK TABLE inquiries_run IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(20)

    holder = threading.Thread(target=hold_the_table)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        response = httpx.get(f"{stack.url}/api/v1/runs", headers={"X-API-Key": stack.WEBHOOK_KEY}, timeout=15)
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(30)
    assert_error(response, 503, "service_unavailable")
    assert 1.2 < waited < 6, waited
    again = httpx.get(f"{stack.url}/api/v1/runs", headers={"X-API-Key": stack.WEBHOOK_KEY}, timeout=15)
    assert again.status_code == 200  # and the worker serves again
