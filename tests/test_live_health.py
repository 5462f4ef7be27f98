"""/health against really stopped and restarted PostgreSQL and Redis servers, through a real
web server process (daphne), as an operator's monitoring would see it."""

import shutil

import httpx
import pytest

from scripts.services import PostgresServer, RedisServer, free_port, scratch_base
from tests.live import base_env, start_web, wait_for

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def stack():
    base = scratch_base()
    pg = PostgresServer(base / "postgres", free_port())
    redis = RedisServer(base / "redis", free_port())
    pg.start()
    redis.start()
    web = start_web(base_env(DATABASE_URL=pg.url, REDIS_URL=redis.url), base / "web")
    try:
        yield web.url, pg, redis
    finally:
        web.stop()
        redis.stop()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


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
