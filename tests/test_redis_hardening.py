"""Redis is not an open door into our processes: the Redis our scripts start (`make run`, `make
services`, the tests' throwaway servers) requires a password that the REDIS_URL they hand out
carries, and Django's cache stores JSON, so a pickle planted in Redis is never unpickled."""

import asyncio
import json
import os
import pickle
import shutil
import socket
import stat
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import redis
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.core.cache import cache
from django.test import RequestFactory
from django_ratelimit.core import get_usage
from django_redis.cache import RedisCache

from core.redis_client import get_redis, hot, reset_redis_pool
from scripts import pids
from scripts.common import as_service_user, free_port, hand_over
from scripts.redis_server import PASSWORD_FILE, RedisServer
from scripts.services import local_services, scratch_base


def _raw(port: int, *words: str) -> bytes:
    """One command in Redis's wire protocol on a fresh connection (no AUTH), and the answer."""
    command = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command.encode())
        return sock.recv(500)


@pytest.fixture(scope="module")
def scripts_redis():
    """The Redis that scripts/services.py starts, as `make test` and `make run` get it."""
    with local_services(persistent=False, want_postgres=False) as services:
        yield services


def test_the_scripts_redis_refuses_commands_without_the_password(scripts_redis):
    url = urlsplit(scripts_redis.env["REDIS_URL"])
    assert len(url.password or "") >= 32
    assert _raw(url.port, "PING").startswith(b"-NOAUTH")
    assert _raw(url.port, "CONFIG", "GET", "dir").startswith(b"-NOAUTH")
    assert _raw(url.port, "AUTH", "not-the-password").startswith(b"-WRONGPASS")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=url.port, protocol=2, socket_timeout=5).get("anything")


def test_the_handed_out_url_works_and_keeps_the_password_off_the_command_line(scripts_redis):
    url = scripts_redis.env["REDIS_URL"]
    client = redis.Redis.from_url(url, socket_timeout=5)
    assert client.ping() is True
    client.set("autoflow:probe", "1")
    assert client.get("autoflow:probe") == b"1"
    server = scripts_redis.servers[0]
    password = urlsplit(url).password
    assert password not in " ".join(pids.identify(server.process.pid, "redis").cmdline())
    secret = server.base_dir / PASSWORD_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert secret.read_text().strip() == password


def test_our_clients_use_the_password_of_the_url(scripts_redis, settings):
    """The hot plane's client, Django's cache (django-redis) and the channel layer all take the
    password from REDIS_URL; without it they are refused."""
    url = scripts_redis.env["REDIS_URL"]
    open_url = url.replace(f":{urlsplit(url).password}@", "")
    ours = settings.REDIS_URL
    try:
        settings.REDIS_URL = url
        reset_redis_pool()
        assert hot(lambda r: r.ping(), False) is True
        settings.REDIS_URL = open_url
        reset_redis_pool()
        assert hot(lambda r: r.ping(), False) is False
    finally:
        settings.REDIS_URL = ours
        reset_redis_pool()

    options = {"CLIENT_CLASS": "django_redis.client.DefaultClient",
               "SERIALIZER": "django_redis.serializers.json.JSONSerializer"}
    cached = RedisCache(url, {"OPTIONS": options})
    cached.set("probe", {"ok": True}, 30)
    assert cached.get("probe") == {"ok": True}
    with pytest.raises(redis.AuthenticationError):
        RedisCache(open_url, {"OPTIONS": options}).get("probe")

    async def round_trip() -> dict:
        layer = RedisPubSubChannelLayer(hosts=[{"address": url}])
        channel = await layer.new_channel()
        await layer.group_add("probe", channel)
        received = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0.2)
        await layer.group_send("probe", {"type": "probe.message", "n": 1})
        try:
            async with asyncio.timeout(5):
                return await received
        finally:
            await layer.flush()

    assert asyncio.run(round_trip()) == {"type": "probe.message", "n": 1}


def test_a_data_folder_keeps_its_password_across_restarts():
    """`make run` restarted on `.run/` hands out the same URL; another folder gets another password."""
    base = scratch_base()
    try:
        first = RedisServer(base / "redis", free_port())
        first.start()
        url = first.url
        first.stop()
        again = RedisServer(base / "redis", free_port())
        again.start()
        try:
            assert again.password == first.password
            assert redis.Redis.from_url(again.url, socket_timeout=5).ping()
        finally:
            again.stop()
        other = RedisServer(base / "other", free_port())
        assert other.password != first.password
        assert urlsplit(url).password == first.password
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_an_open_server_of_ours_left_by_an_older_checkout_is_restarted_with_the_password():
    base = scratch_base()
    folder = base / "redis"
    folder.mkdir()
    hand_over(folder)
    port = free_port()
    legacy = pids.spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                         "--save", "", "--appendonly", "no", "--logfile", str(folder / "legacy.log")],
                        label="redis", stdin=subprocess.DEVNULL, **as_service_user())
    server = RedisServer(folder, port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if _raw(port, "PING").startswith(b"+PONG"):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the open redis-server did not start"
                time.sleep(0.05)
        server.start()
        assert not server.adopted
        assert pids.wait_exit(legacy, 10) is not None  # the open one is gone
        assert _raw(port, "PING").startswith(b"-NOAUTH")
        assert redis.Redis.from_url(server.url, socket_timeout=5).ping()
    finally:
        server.stop()
        pids.end_group(legacy)
        shutil.rmtree(base, ignore_errors=True)


# --- Django's cache stores JSON ---------------------------------------------------------------------

EXECUTED = []


def _planted() -> None:
    EXECUTED.append("a planted pickle ran in our process")


class Planted:
    def __reduce__(self):
        return (_planted, ())


def test_a_cached_value_is_json_in_redis():
    cache.set("hardening:json", {"count": 3, "names": ["a", "b"]}, 30)
    raw = get_redis().get(cache.make_key("hardening:json"))
    assert json.loads(raw) == {"count": 3, "names": ["a", "b"]}
    assert not raw.startswith("\x80")  # a pickle's first byte (PROTO)
    assert cache.get("hardening:json") == {"count": 3, "names": ["a", "b"]}


def test_a_planted_pickle_is_never_unpickled():
    payload = pickle.dumps(Planted())
    pickle.loads(payload)  # the payload does run when unpickled ...
    assert EXECUTED == ["a planted pickle ran in our process"]
    EXECUTED.clear()
    redis.Redis.from_url(os.environ["REDIS_URL"]).set(cache.make_key("hardening:planted"), payload, ex=30)
    try:
        value = cache.get("hardening:planted")
    except ValueError:  # not JSON (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        value = None
    assert value is None
    assert EXECUTED == []  # ... but not when read through the cache


@pytest.mark.django_db
def test_what_our_libraries_keep_in_the_cache_still_round_trips():
    """django-ratelimit's counters (cache.add, then cache.incr) and django-q2's statistics (a
    signed string, django_q/brokers set_stat/get_stats) through the JSON serializer."""
    request = RequestFactory().post("/api/v1/webhook")
    key = f"hardening-{os.getpid()}"
    usages = [get_usage(request, group="hardening", key=lambda _g, _r: key, rate="5/m", increment=True)
              for _ in range(6)]
    assert [u["count"] for u in usages] == [1, 2, 3, 4, 5, 6]
    assert [u["should_limit"] for u in usages] == [False] * 5 + [True]

    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker()
    stat_key = f"django_q:autoflow:cluster:hardening-{os.getpid()}"
    broker.set_stat(stat_key, SignedPackage.dumps({"cluster_id": "hardening"}, True), 30)
    assert {"cluster_id": "hardening"} in [SignedPackage.loads(s) for s in broker.get_stats("*")]
