"""Fail closed when exposed: the web tier refuses a non-loopback address without the keys (unless
AUTOFLOW_ALLOW_OPEN=1, which /health then reports), wsgi.py refuses a bad production
configuration like asgi.py, and the compose file starts in production and names what it needs."""

import os
import re
import subprocess
import sys

import pytest
import yaml

from scripts import pids
from scripts.common import REPO, ServiceError, free_port, port_open
from scripts.web import guard_exposure, is_loopback
from testutils.live import base_env, stop, wait_for

KEYS = ("WEBHOOK_API_KEY", "AUTOFLOW_ADMIN_API_KEY")
GOOD = {
    "APP_ENV": "production",
    "WEBHOOK_API_KEY": "wk_" + "a1b2c3d4" * 6,
    "AUTOFLOW_ADMIN_API_KEY": "ak_" + "e5f6a7b8" * 6,
    "DJANGO_SECRET_KEY": "Zx8#kQ2!pL5@mN7$vB3%cX9^jH4&gF6*dS1(aW0)eR8_tY2+uI5",
    "CORS_ORIGINS": "https://crm.example.com",
    "DJANGO_ALLOWED_HOSTS": "autoflow.example.com",
}


def _web_env(tmp_path, **overrides: str) -> dict[str, str]:
    """`python -m scripts.web`'s environment: the session's servers, no keys unless given."""
    env = base_env(DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=os.environ["REDIS_URL"], WEB_WORKERS="1",
                   PORT=str(free_port()), AUTOFLOW_WEB_DIR=str(tmp_path / "web"), **overrides)
    for name in (*KEYS, "AUTOFLOW_ALLOW_OPEN"):
        if name not in overrides:
            env.pop(name, None)
    return env


# --- Which addresses count as loopback, and what is refused -----------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.168.1.20", "10.0.0.5", "2001:db8::1", "example.com"])
def test_addresses_that_may_face_a_network(host):
    assert not is_loopback(host)


@pytest.mark.parametrize("missing", [KEYS, KEYS[:1], KEYS[1:]])
def test_a_public_address_without_keys_is_refused_by_name(missing):
    env = {name: "k" * 40 for name in KEYS if name not in missing}
    with pytest.raises(ServiceError) as refused:
        guard_exposure(env, "0.0.0.0")
    message = str(refused.value)
    assert all(name in message for name in missing)
    assert all(name not in message for name in KEYS if name not in missing)
    assert "AUTOFLOW_ALLOW_OPEN=1" in message


@pytest.mark.parametrize(("env", "host"), [
    ({}, "127.0.0.1"),  # development: loopback only
    ({}, "localhost"),
    (dict.fromkeys(KEYS, "k" * 40), "0.0.0.0"),  # keys set: exposed is fine
    ({"AUTOFLOW_ALLOW_OPEN": "1"}, "0.0.0.0"),  # open on purpose
    ({"AUTOFLOW_ALLOW_OPEN": "true"}, "203.0.113.7"),
])
def test_what_is_allowed(env, host):
    guard_exposure(env, host)


@pytest.mark.parametrize("value", ["0", "false", "", "no"])
def test_allow_open_must_be_a_true_value(value):
    with pytest.raises(ServiceError):
        guard_exposure({"AUTOFLOW_ALLOW_OPEN": value}, "0.0.0.0")


# --- python -m scripts.web, as the container runs it --------------------------------------------

@pytest.mark.services
def test_scripts_web_on_all_interfaces_without_keys_exits_naming_them(tmp_path):
    env = _web_env(tmp_path, HOST="0.0.0.0")
    result = subprocess.run([sys.executable, "-m", "scripts.web"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    for name in (*KEYS, "AUTOFLOW_ALLOW_OPEN=1"):
        assert name in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not port_open(int(env["PORT"]))  # nothing was started


@pytest.mark.services
def test_scripts_web_with_allow_open_serves_and_says_so(tmp_path):
    env = _web_env(tmp_path, HOST="0.0.0.0", AUTOFLOW_ALLOW_OPEN="1")
    log = tmp_path / "web.log"
    with open(log, "wb") as output:
        proc = pids.spawn([sys.executable, "-m", "scripts.web"], label="web-open", cwd=REPO, env=env,
                          stdout=output, stderr=subprocess.STDOUT)
    try:
        health = wait_for(f"http://127.0.0.1:{env['PORT']}/health", proc=proc).json()
        assert health["exposure"] == "open"
        assert health["status"] == "ok"  # the other fields are still there
        assert "warning: AUTOFLOW_ALLOW_OPEN" in log.read_text()
        assert stop(proc) == 0
    finally:
        pids.stop_children([(proc, 15)], timeout=30)  # the tier's processes go with it


# --- /health's exposure field ---------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("allow_open", "keys", "expected"), [
    (False, ("", ""), "guarded"),
    (False, ("w" * 40, "a" * 40), "guarded"),
    (True, ("w" * 40, "a" * 40), "guarded"),  # the escape hatch changed nothing
    (True, ("", "a" * 40), "open"),
    (True, ("w" * 40, ""), "open"),
])
def test_health_reports_exposure(client, settings, allow_open, keys, expected):
    settings.AUTOFLOW_ALLOW_OPEN = allow_open
    settings.WEBHOOK_API_KEY, settings.AUTOFLOW_ADMIN_API_KEY = keys
    body = client.get("/health").json()
    assert body["exposure"] == expected
    assert {"status", "database", "redis", "ollama", "llm_backend", "timestamp", "rate_limiting",
            "checks"} <= set(body)


# --- wsgi.py checks what asgi.py checks -----------------------------------------------------------

def _import(module: str, env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in GOOD}
    env.update(env_overrides, DJANGO_SETTINGS_MODULE="autoflow.settings")
    return subprocess.run([sys.executable, "-c", f"import {module}; print('loaded')"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_wsgi_refuses_a_bad_production_configuration():
    result = _import("autoflow.wsgi", {"APP_ENV": "production"})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "AutoFlow refuses to start" in result.stderr
    assert "autoflow.E001" in result.stderr
    assert "autoflow.E002" in result.stderr


def test_wsgi_loads_a_good_production_configuration():
    result = _import("autoflow.wsgi", GOOD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded"


# --- docker-compose.yml -----------------------------------------------------------------------------

REQUIRED = ("DJANGO_SECRET_KEY", "WEBHOOK_API_KEY", "AUTOFLOW_ADMIN_API_KEY", "DJANGO_ALLOWED_HOSTS", "CORS_ORIGINS")


def test_compose_starts_in_production_and_requires_the_settings_it_needs():
    text = (REPO / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    for service in ("web", "worker"):
        env = compose["services"][service]["environment"]
        assert env["APP_ENV"] == "production"
        for name in REQUIRED:
            # ${NAME:?message}: compose refuses to start without it, and prints the message.
            assert re.fullmatch(r"\$\{" + name + r":\?[^}]*" + name + r"[^}]*\}", env[name]), (service, name)
        assert "*" not in env["CORS_ORIGINS"]
        # Redis requires a password, and the app's URL carries it.
        assert re.fullmatch(r"redis://:\$\{REDIS_PASSWORD:\?[^}]+\}@redis:6379/0", env["REDIS_URL"]), env["REDIS_URL"]
    redis = compose["services"]["redis"]
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert "requirepass" in " ".join(redis["command"])
    assert "REDIS_PASSWORD" not in " ".join(redis["command"]).split("|")[1]  # not on redis-server's command line
    assert "REDISCLI_AUTH" in " ".join(redis["healthcheck"]["test"])
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert all(name in header for name in (*REQUIRED, "REDIS_PASSWORD"))
