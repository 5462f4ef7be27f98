"""A Content-Security-Policy that allows only our own origin is on every console, admin and API
docs page (core/csp.py); no template needs inline script or style for it; the API docs serve
django-ninja's bundled (pinned) Swagger UI from our static files, not from a CDN. That the pages
really work under it, live updates included, is checked in Chromium (tests/test_browser.py)."""

import re
from html.parser import HTMLParser
from pathlib import Path

import ninja
import pytest

from scripts.common import REPO
from testutils.csp import assert_own_origin_only
from testutils.factories import make_run, make_step

pytestmark = pytest.mark.django_db

@pytest.fixture
def run():
    run = make_run(status="completed")
    make_step(run=run, sequence=1)
    return run


@pytest.mark.parametrize("path", ["/console/", "/console/runs/", "/console/runs/{run}/", "/console/escalations/",
                                  "/console/submit/", "/console/reports/"])
def test_console_pages_carry_the_policy(operator_client, run, path):
    response = operator_client.get(path.format(run=run.pk))
    assert response.status_code == 200
    assert_own_origin_only(response)


def test_sign_in_pages_carry_the_policy(client):
    for path in ("/console/login/", "/admin/login/"):
        response = client.get(path)
        assert response.status_code == 200
        assert_own_origin_only(response)


@pytest.mark.parametrize("path", ["/admin/", "/admin/inquiries/run/", "/admin/inquiries/run/{run}/change/",
                                  "/admin/inquiries/auditentry/"])
def test_admin_pages_carry_the_policy(admin_client, run, path):
    response = admin_client.get(path.format(run=run.pk))
    assert response.status_code == 200
    assert_own_origin_only(response)


def test_behind_tls_the_socket_origin_is_wss(client):
    assert_own_origin_only(client.get("/console/login/", secure=True), socket="wss://testserver")


class _References(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        if tag == "script" and "src" not in attributes and attributes.get("type") != "application/json":
            self.inline_scripts += 1


def test_the_api_docs_serve_the_bundled_swagger_ui_from_our_origin(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert_own_origin_only(response)
    page = _References()
    page.feed(response.content.decode())
    assert page.inline_scripts == 0
    assert page.urls
    assert all(url.startswith("/static/") for url in page.urls), page.urls  # no CDN, no other host
    bundled = Path(ninja.__file__).parent / "static" / "ninja"
    for url in page.urls:
        served = client.get(url)
        assert served.status_code == 200, url
        body = b"".join(served.streaming_content) if served.streaming else served.content
        assert body == (bundled / Path(url).name).read_bytes()  # django-ninja's own copy


INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "style attribute": re.compile(r"<[a-z][^>]*\sstyle=", re.I),
    "event handler attribute": re.compile(r"<[a-z][^>]*\son[a-z]+=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "style element": re.compile(r"<style[\s>]", re.I),
}


def test_no_template_needs_inline_script_or_style():
    found = [f"{path.relative_to(REPO)}: {what}" for path in sorted((REPO / "templates").rglob("*.html"))
             for what, pattern in INLINE.items() if pattern.search(path.read_text())]
    assert found == []
