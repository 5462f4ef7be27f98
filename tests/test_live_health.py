"""/health against really stopped and restarted PostgreSQL and Redis servers, through a real
web server process (daphne), as an operator's monitoring would see it."""

import httpx
import pytest

from scripts.stack import Stack
from testutils.live import base_env, serve, wait_for

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def stack():
    """Its own servers (these tests stop them); /health needs no tables, so no migration."""
    with Stack(base_env(), migrate=False) as local:
        yield serve(local).url, local.pg, local.redis


def _health(url: str) -> dict:
    response = httpx.get(f"{url}/health", timeout=10)
    assert response.status_code == 200
    return response.json()


def test_all_up(stack):
    url, _, _ = stack
    body = _health(url)
    assert (body["status"], body["database"], body["redis"]) == ("ok", True, True)


def test_redis_stopped_turns_health_degraded_and_back(stack):
    url, _, redis = stack
    redis.stop()
    assert not redis.is_running()
    body = _health(url)
    assert (body["status"], body["database"], body["redis"]) == ("degraded", True, False)
    assert body["rate_limiting"] == "fail_open"
    # Readiness depends on the database only: losing Redis loses speed, not the ability to accept.
    assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 200

    redis.start()
    body = wait_for(f"{url}/health", ok=lambda r: r.json()["status"] == "ok", timeout=20).json()
    assert (body["database"], body["redis"], body["rate_limiting"]) == (True, True, "active")


def test_postgres_stopped_turns_health_degraded_and_readiness_503(stack):
    url, pg, _ = stack
    pg.stop()
    assert not pg.is_running()
    body = _health(url)
    assert (body["status"], body["database"], body["redis"]) == ("degraded", False, True)
    ready = httpx.get(f"{url}/health/ready", timeout=10)
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "5"
    assert ready.json() == {"status": "unavailable", "database": False}
    assert httpx.get(f"{url}/health/live", timeout=10).status_code == 200

    pg.start()
    wait_for(f"{url}/health/ready", timeout=30)
    assert _health(url)["status"] == "ok"
