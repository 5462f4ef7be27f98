"""Whose X-Forwarded-* headers count (core/client_ip.py, core/middleware.py, the web tier's nginx
configuration in scripts/nginx_conf.py). Over real HTTPS through a proxy: tests/test_tls_proxy.py."""

import asyncio
import ipaddress
import re
import subprocess

import pytest
from django.conf import settings as django_settings
from django.test import RequestFactory

from core.client_ip import client_ip, is_trusted_proxy, proxy_networks
from core.middleware import ForwardedHeadersMiddleware
from scripts import nginx_conf
from scripts.common import ServiceError
from scripts.web import find_nginx

FORWARDED = {"HTTP_X_FORWARDED_FOR": "198.51.100.7", "HTTP_X_FORWARDED_PROTO": "https",
             "HTTP_X_FORWARDED_HOST": "evil.example"}


def _request(peer: str, forwarded_for: str | None = None, **meta):
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", REMOTE_ADDR=peer, **meta)


@pytest.fixture
def proxies(settings):
    """A load balancer network and an IPv6 one, as an operator would configure them."""
    settings.TRUSTED_PROXIES = proxy_networks(["10.0.0.0/8", "2001:db8::/32"])
    return settings


# --- TRUSTED_PROXIES ------------------------------------------------------------------------------

def test_entries_are_addresses_or_networks():
    assert proxy_networks([" 10.1.2.3/8", "192.0.2.1", "", "[::1]", "2001:db8::/32"]) == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.1/32"),
        ipaddress.ip_network("::1/128"), ipaddress.ip_network("2001:db8::/32"))


@pytest.mark.parametrize("entry", ["bogus", "10.0.0.0/33", "300.1.1.1", "10.0.0.0/8/8"])
def test_a_bad_entry_is_named(entry):
    with pytest.raises(ValueError, match=re.escape(repr(entry))):
        proxy_networks(["127.0.0.1", entry])


def test_the_default_is_loopback():
    assert proxy_networks(["127.0.0.1/32", "::1/128"]) == django_settings.TRUSTED_PROXIES


def test_loopback_is_trusted_whatever_is_configured(settings):
    settings.TRUSTED_PROXIES = ()
    assert is_trusted_proxy("127.0.0.1")
    assert is_trusted_proxy("::1")
    assert is_trusted_proxy("::ffff:127.0.0.1")
    assert not is_trusted_proxy("127.0.0.2")  # only our own nginx's address, not all of 127/8
    assert not is_trusted_proxy("10.0.0.1")
    assert not is_trusted_proxy("")
    assert not is_trusted_proxy(None)


# --- The client's address -------------------------------------------------------------------------

@pytest.mark.parametrize(("peer", "forwarded_for", "client"), [
    # From an untrusted peer, the peer is the client: its X-Forwarded-For is its own invention.
    ("203.0.113.5", "198.51.100.7", "203.0.113.5"),
    ("10.0.0.1", None, "10.0.0.1"),
    # Our nginx (loopback) names the client it saw.
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
    # Entries a client wrote left of what the trusted proxies appended count for nothing.
    ("127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"),
    # The walk goes past every trusted proxy (CIDRs) to the first address that is not one.
    ("127.0.0.1", "198.51.100.7, 10.1.2.3", "198.51.100.7"),
    ("10.9.9.9", "6.6.6.6,198.51.100.7 , 10.0.0.1,10.0.0.2", "198.51.100.7"),
    # All trusted: the farthest one is the client.
    ("127.0.0.1", "10.0.0.1, 10.0.0.2", "10.0.0.1"),
    # IPv6 peers and hops, in brackets or not; IPv4-mapped addresses are IPv4.
    ("::1", "2a00:1450::5, 2001:db8::9", "2a00:1450::5"),
    ("2001:db8::10", "[2a00:1450::5]", "2a00:1450::5"),
    ("2001:db9::10", "2a00:1450::5", "2001:db9::10"),
    ("::ffff:127.0.0.1", "198.51.100.7", "198.51.100.7"),
    ("127.0.0.1", "::ffff:198.51.100.7", "198.51.100.7"),
    # Garbage stops the walk: the last trusted hop is the client.
    ("127.0.0.1", "198.51.100.7, garbage, 10.0.0.1", "10.0.0.1"),
    ("127.0.0.1", "198.51.100.7, , 10.0.0.1", "10.0.0.1"),
    ("127.0.0.1", "unknown", "127.0.0.1"),
    ("127.0.0.1", "198.51.100.7:4711", "127.0.0.1"),
    ("127.0.0.1", "", "127.0.0.1"),
])
def test_the_client_is_the_first_untrusted_hop_from_the_right(proxies, peer, forwarded_for, client):
    assert client_ip(_request(peer, forwarded_for)) == client


def test_x_real_ip_counts_for_nothing(proxies):
    assert client_ip(_request("127.0.0.1", HTTP_X_REAL_IP="198.51.100.7")) == "127.0.0.1"


def test_without_configured_proxies_a_load_balancer_is_the_client():
    assert client_ip(_request("10.0.0.1", "198.51.100.7")) == "10.0.0.1"


# --- Headers of untrusted peers are removed --------------------------------------------------------

def _through_middleware(request):
    seen = {}

    def view(req):
        seen.update(secure=req.is_secure(), headers=dict(req.headers), meta=dict(req.META), ip=client_ip(req))
        return "response"

    assert ForwardedHeadersMiddleware(view)(request) == "response"
    return seen


def test_headers_of_an_untrusted_peer_are_removed(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    request = _request("203.0.113.5", **FORWARDED)
    assert request.headers["X-Forwarded-Proto"] == "https"  # read (and cached) before the middleware
    seen = _through_middleware(request)
    assert not seen["secure"]
    assert seen["ip"] == "203.0.113.5"
    assert not {"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"} & set(seen["headers"])
    assert not set(FORWARDED) & set(seen["meta"])


def test_headers_of_a_trusted_proxy_are_kept(proxies):
    proxies.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    seen = _through_middleware(_request("10.2.3.4", **FORWARDED))
    assert seen["secure"]
    assert seen["ip"] == "198.51.100.7"
    assert seen["headers"]["X-Forwarded-Host"] == "evil.example"  # Django ignores it (USE_X_FORWARDED_HOST)


def test_the_middleware_works_under_asgi_too():
    async def view(request):
        return request.META.get("HTTP_X_FORWARDED_PROTO", "removed")

    middleware = ForwardedHeadersMiddleware(view)
    assert asyncio.run(middleware(_request("203.0.113.5", **FORWARDED))) == "removed"
    assert asyncio.run(middleware(_request("127.0.0.1", **FORWARDED))) == "https"


def test_it_runs_first_before_anything_reads_the_headers():
    middleware = django_settings.MIDDLEWARE
    assert middleware[0] == "core.middleware.ForwardedHeadersMiddleware"
    assert middleware.index("django.middleware.security.SecurityMiddleware") > 0


@pytest.mark.django_db
def test_production_redirects_a_forged_https_claim_and_serves_a_trusted_one(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    forged = client.get("/console/login/", REMOTE_ADDR="203.0.113.5", headers={"X-Forwarded-Proto": "https"})
    assert forged.status_code == 301
    assert forged["Location"] == "https://testserver/console/login/"
    trusted = client.get("/console/login/", REMOTE_ADDR="127.0.0.1", headers={"X-Forwarded-Proto": "https"})
    assert trusted.status_code == 200
    assert trusted["Strict-Transport-Security"].startswith("max-age=3600")


# --- The web tier's nginx ---------------------------------------------------------------------------

def _render(tmp_path, **env: str) -> str:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return nginx_conf.render(env, run_dir=tmp_path, user=None, listen="127.0.0.1:8000", http_port=1, ws_port=2)


def test_nginx_trusts_the_same_proxies_and_loopback(tmp_path):
    conf = _render(tmp_path, TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.7,2001:db8::/32")
    trusted = ["127.0.0.1/32", "::1/128", "10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
    assert re.findall(r"set_real_ip_from (\S+);", conf) == trusted
    geo = conf[conf.index("geo $realip_remote_addr"):]
    assert re.findall(r"^\s+(\S+) 1;$", geo[:geo.index("}")], re.M) == trusted
    assert "X-Real-IP" not in conf
    assert conf.count("proxy_set_header X-Forwarded-For $remote_addr;") == 2
    assert conf.count("proxy_set_header X-Forwarded-Proto $autoflow_forwarded_proto;") == 2


def test_nginx_limits_and_timeouts_follow_the_environment(tmp_path):
    default = _render(tmp_path)
    assert "worker_processes auto;" in default
    assert "rate=100r/s;" in default
    assert "burst=200 nodelay;" in default
    assert "limit_conn autoflow_conn 100;" in default
    assert "proxy_send_timeout 60s;" in default  # WebSockets: three 20 s heartbeats
    custom = _render(tmp_path, WEB_NGINX_WORKERS="3", WEB_REQ_RATE="30r/m", WEB_REQ_BURST="0", WEB_CONN_LIMIT="7",
                     WEBSOCKET_HEARTBEAT_SECONDS="45")
    assert "worker_processes 3;" in custom
    assert "rate=30r/m;" in custom
    assert "burst=0 nodelay;" in custom
    assert custom.count("limit_conn autoflow_conn 7;") == 2
    assert custom.count("limit_req zone=autoflow_req") == 2
    assert "proxy_read_timeout 135s;" in custom
    assert "proxy_send_timeout 135s;" in custom


@pytest.mark.parametrize("env", [{"TRUSTED_PROXIES": "lb.example.com"}, {"WEB_REQ_RATE": "fast"},
                                 {"WEB_REQ_RATE": "0"}, {"WEB_CONN_LIMIT": "0"}, {"WEB_REQ_BURST": "-1"},
                                 {"WEB_NGINX_WORKERS": "many"}])
def test_nginx_settings_that_make_no_sense_are_refused_by_name(tmp_path, env):
    with pytest.raises(ServiceError, match=next(iter(env))):
        _render(tmp_path, **env)


@pytest.mark.parametrize("env", [{}, {"TRUSTED_PROXIES": "10.0.0.0/8,2001:db8::/32", "WEB_REQ_RATE": "5r/m"}])
def test_nginx_accepts_the_configuration(tmp_path, env):
    conf = tmp_path / "nginx.conf"
    conf.write_text(_render(tmp_path, **env))
    result = subprocess.run([find_nginx(), "-t", "-q", "-c", str(conf), "-p", str(tmp_path), "-e",
                             str(tmp_path / "error.log")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
