"""Production behind a TLS-terminating proxy, over real HTTPS.

A real nginx with a self-signed certificate (testutils/tls_proxy.py) stands where a load balancer
would, in front of the real web tier (scripts/web.py: nginx, gunicorn, daphne) in production mode
with TRUSTED_PROXIES=127.0.0.1/32. It appends the peer it saw to X-Forwarded-For and says
X-Forwarded-Proto: https. Each client connects from its own loopback address (127.0.0.2, .3, …),
which is its "real" address. Proven: no redirect loop, HSTS, console sign-in with CSRF on the
https origin, webhook intake, rate limits (the app's and nginx's) per real client, and that a
client talking to our nginx directly cannot claim https.
"""

import re
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from scripts.common import REPO, free_port
from scripts.web import WebStack
from testutils.inquiries import KEY, assert_error, inquiry
from testutils.live import base_env, live_stack, wait_for
from testutils.tls_proxy import tls_proxy

pytestmark = pytest.mark.services

SECRET_KEY = "tls-proxy-test-Zx8#kQ2!pL5@mN7$vB3%cX9^jH4&gF6*dS1(aW0)eR8"
PASSWORD = "tls-proxy-test-pw-1234"
PRODUCTION = {
    "APP_ENV": "production", "DJANGO_SECRET_KEY": SECRET_KEY, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "TRUSTED_PROXIES": "127.0.0.1/32",
    "WEBHOOK_RATE_LIMIT": "3/h",  # per address (and per key: the clients' own key allows more)
}
MAKE_USERS = f"""
from django.contrib.auth.models import Group, User
from inquiries.roles import OPERATORS, ensure_role_groups
from inquiries.services import api_client_create
ensure_role_groups()
User.objects.create_user("olivia", password="{PASSWORD}").groups.add(Group.objects.get(name=OPERATORS))
print(api_client_create(name="tls-proxy-test", rate_limit="1000/h")[1])
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    static = tmp_path_factory.mktemp("static")
    # Production serves the hashed files collectstatic writes (autoflow/settings.py, STORAGES).
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=REPO, check=True,
                   env=base_env(**PRODUCTION, STATIC_ROOT=str(static)), capture_output=True)
    with live_stack(**PRODUCTION, STATIC_ROOT=str(static)) as stack:
        made = stack.manage("shell", "-c", MAKE_USERS, quiet=True)
        stack.client_key = made.stdout.decode().strip().splitlines()[-1]
        yield stack


@pytest.fixture(scope="module")
def proxy(live):
    with tls_proxy(live.base / "tls-proxy", live.web.port) as running:
        yield running


def _client_ip_of(live, run_id: str) -> str:
    return live.sql("SELECT host(i.client_ip) FROM inquiries_run r JOIN inquiries_inquiry i ON i.id = r.inquiry_id "
                    "WHERE r.id = %s", [run_id])[0][0]


def _submit(client: httpx.Client, key: str, **headers) -> httpx.Response:
    return client.post("/api/v1/webhook", json=inquiry(), headers={"X-API-Key": key, **headers})


def test_https_pages_are_served_without_a_redirect_loop(proxy):
    with proxy.client() as client:
        for path in ("/console/login/", "/admin/login/", "/api/v1/docs", "/api/v1/openapi.json", "/health"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code, response.headers.get("location"))
        assert client.get("/api/v1/runs", headers=KEY).status_code == 200
        # What redirects goes elsewhere on the same https origin, and arrives.
        response = client.get("/console/")
        assert response.status_code == 302
        assert response.headers["location"].startswith("/console/login/")
        arrived = client.get("/console/", follow_redirects=True)
        assert arrived.status_code == 200
        assert [str(r.url) for r in arrived.history] == [f"{proxy.url}/console/"]


def test_hsts_and_secure_cookies_are_sent_over_https(proxy):
    with proxy.client() as client:
        response = client.get("/console/login/")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "secure" in response.headers["set-cookie"].lower()


def test_console_sign_in_and_csrf_work_on_the_https_origin(proxy):
    origin = {"Origin": proxy.url, "Referer": f"{proxy.url}/console/login/"}
    credentials = {"username": "olivia", "password": PASSWORD}
    with proxy.client() as client:
        page = client.get("/console/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        assert client.post("/console/login/", data=credentials, headers=origin).status_code == 403
        foreign = {"Origin": "https://evil.example", "Referer": "https://evil.example/"}
        assert client.post("/console/login/", data={"csrfmiddlewaretoken": token, **credentials},
                           headers=foreign).status_code == 403
        assert client.get("/console/").status_code == 302  # still signed out

        signed_in = client.post("/console/login/", data={"csrfmiddlewaretoken": token, **credentials}, headers=origin)
        assert signed_in.status_code == 302, signed_in.text[:300]
        assert signed_in.headers["location"] == "/console/"
        overview = client.get("/console/")
        assert overview.status_code == 200
        assert "olivia" in overview.text


def test_the_webhook_accepts_posts_over_https(proxy, live):
    with proxy.client(local_address="127.0.0.4") as client:
        response = _submit(client, live.client_key)
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    assert uuid.UUID(run_id)
    assert _client_ip_of(live, run_id) == "127.0.0.4"


def test_the_app_rate_limit_keys_on_the_real_client_address(proxy, live):
    with proxy.client(local_address="127.0.0.2") as first, proxy.client(local_address="127.0.0.3") as second:
        answers = [_submit(first, live.client_key) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert_error(answers[-1], 429, "rate_limited")
        assert {_client_ip_of(live, a.json()["run_id"]) for a in answers[:3]} == {"127.0.0.2"}
        # A forged X-Forwarded-For does not buy a fresh bucket: the proxy appends the real peer.
        for forged in ("127.0.0.9", "203.0.113.50", "127.0.0.9, 127.0.0.1"):
            assert _submit(first, live.client_key, **{"X-Forwarded-For": forged}).status_code == 429
        # Another client behind the same proxy has its own bucket.
        other = _submit(second, live.client_key)
        assert other.status_code == 200
        assert _client_ip_of(live, other.json()["run_id"]) == "127.0.0.3"


@pytest.mark.parametrize("forged", [{"X-Forwarded-Proto": "https"},
                                    {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"}])
def test_a_client_of_our_nginx_directly_cannot_claim_https(live, forged):
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=live.url, transport=transport, timeout=15) as direct:
        page = direct.get("/console/login/", headers=forged)
        intake = direct.post("/api/v1/webhook", json=inquiry(), headers={**KEY, **forged})
    port = live.web.port
    for response, path in ((page, "/console/login/"), (intake, "/api/v1/webhook")):
        assert response.status_code == 301
        assert response.headers["location"] == f"https://127.0.0.1:{port}{path}"
        assert "strict-transport-security" not in response.headers


@pytest.fixture(scope="module")
def limited(live):
    """A second web tier on the same stack with tight nginx limits, behind its own TLS proxy."""
    web = WebStack(env={**live.env, "WEB_REQ_RATE": "1r/m", "WEB_REQ_BURST": "5", "WEB_CONN_LIMIT": "2"},
                   host="127.0.0.1", port=free_port(), run_dir=live.base / "web-limited", http_workers=1, quiet=True)
    web.start()
    try:
        wait_for(f"{web.url}/health/live")
        with tls_proxy(live.base / "tls-limited", web.port) as running:
            yield web, running
    finally:
        web.stop()


def test_nginx_limits_requests_per_real_client_with_the_envelope(limited):
    web, proxy = limited
    with proxy.client(local_address="127.0.0.2") as first, proxy.client(local_address="127.0.0.3") as second:
        codes = [first.get("/health/live").status_code for _ in range(6)]  # 1 + a burst of 5
        assert codes == [200] * 6
        refused = first.get("/health/live", headers={"X-Forwarded-For": "127.0.0.9"})
        assert_error(refused, 429, "rate_limited")
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["request_id"]
        assert second.get("/health/live").status_code == 200
    # This machine's own clients (probes, tests) are not counted.
    assert all(httpx.get(f"{web.url}/health/live", timeout=5).status_code == 200 for _ in range(20))


def _stalled_upload(url: str, source: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
    sock.sendall(f"POST /api/v1/webhook HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                 "Content-Length: 1000\r\n\r\n{".encode())
    return sock


def test_nginx_limits_connections_per_client(limited):
    web, _ = limited
    stalled = [_stalled_upload(web.url, "127.0.0.5") for _ in range(2)]
    try:
        transport = httpx.HTTPTransport(local_address="127.0.0.5")
        with httpx.Client(base_url=web.url, transport=transport, timeout=10) as client:
            assert_error(client.get("/health/live"), 429, "rate_limited")
            for sock in stalled:
                sock.close()
            stalled = []
            time.sleep(0.5)  # nginx ends the requests it was reading once it sees the connections close
            assert client.get("/health/live").status_code == 200
    finally:
        for sock in stalled:
            sock.close()
