"""Security of the WebSockets (docs/reliability.md, "What an attacker can do"): who may open which
socket — sessions, keys by scope, run-scoped stream tokens — and that sockets neither outlive
their lifetime nor fall silent when a channel layer expires their groups. The HTTP routes' matrix
is tests/test_security.py."""

import asyncio
import time

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.test import Client

from inquiries.api.v1 import stream_token
from inquiries.realtime import run_group
from inquiries.services import Caller, api_client_create, api_client_set_active
from testutils.aio import run_async
from testutils.factories import make_inquiry, make_run
from testutils.security import WEBHOOK_KEY


def _ws_outcome(path: str, *, cookie: str = "", origin: str = "http://testserver"):
    from autoflow.asgi import application

    async def scenario():
        headers = [(b"host", b"testserver"), (b"origin", origin.encode())]
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        com = WebsocketCommunicator(application, path, headers=headers)
        try:
            connected, code = await com.connect(timeout=10)
            if not connected:  # closed before accepting: our codes (4401…), or a bare denial (the handshake's 403)
                return code if isinstance(code, int) and code != 1000 else "refused"
            if await com.receive_nothing(timeout=1):  # the history socket is quiet until a run changes
                return "open"
            first = await com.receive_output(timeout=10)
            return first.get("code", "open") if first["type"] == "websocket.close" else "open"
        finally:  # every consumer gets its disconnect and ends here, not in asyncio.run's clean-up
            await com.disconnect(timeout=5)

    return run_async(scenario)


@pytest.fixture
def in_memory_channel_layer(settings):
    """Who may connect is decided before any message moves: an in-process layer keeps each
    asyncio.run of these checks free of Redis connections bound to an earlier event loop."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _session_cookie(client: Client, user) -> str:
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def _token(run_id, identity: str = "key:bootstrap") -> str:
    return stream_token.issue(run_id=run_id, caller=Caller(identity=identity, label="t", ip=""))


@pytest.mark.django_db(transaction=True)
def test_every_websocket_answers_each_caller_as_documented(keys, settings, operator, auditor, outsider,
                                                           secret_run, in_memory_channel_layer):
    settings.ALLOWED_HOSTS = ["testserver"]
    form_client, form_key = api_client_create(name="form", scopes=["intake", "read_own"])
    _, reader_key = api_client_create(name="reader", scopes=["read_all"])
    other_run = make_run(inquiry=make_inquiry(api_client=form_client))
    tokens = {"wrong_key": "wk_wrong", "webhook_key": WEBHOOK_KEY, "form_key": form_key, "reader_key": reader_key,
              "stream_token": _token(secret_run.pk), "other_runs_token": _token(other_run.pk),
              "form_clients_token": _token(secret_run.pk, f"client:{form_client.pk}")}
    api = {"anonymous": 4401, "wrong_key": 4401, "webhook_key": "open", "outsider": 4401, "auditor": "open",
           "operator": "open", "form_key": 4401, "reader_key": "open", "stream_token": "open",
           "other_runs_token": 4401, "form_clients_token": "open"}
    console = {**dict.fromkeys(api, 4401), "auditor": "open", "operator": "open"}
    routes = {f"/api/v1/ws/{secret_run.pk}": api, f"/ws/runs/{secret_run.pk}/": console, "/ws/runs/": console}
    from autoflow.routing import websocket_urlpatterns

    assert len(routes) == len(websocket_urlpatterns)
    users = {"outsider": outsider, "auditor": auditor, "operator": operator}
    for path, expected in routes.items():
        for who, outcome in expected.items():
            token = tokens.get(who)
            cookie = _session_cookie(Client(), users[who]) if who in users else ""
            full = f"{path}?token={token}" if token else path
            assert _ws_outcome(full, cookie=cookie) == outcome, (path, who)
    # A read_own key's refusal is the same for its own run as for any other: no existence oracle.
    assert _ws_outcome(f"/api/v1/ws/{other_run.pk}?token={form_key}") == 4401
    # Another site's page cannot use the operator's cookie (cross-site WebSocket hijacking), even
    # where CORS_ORIGINS="*" (the development default) lets it call the API with a key of its own.
    settings.CORS_ORIGINS = ["*"]
    cookie = _session_cookie(Client(), operator)
    evil = "https://evil.example"
    assert _ws_outcome(f"/ws/runs/{secret_run.pk}/", cookie=cookie, origin=evil) == "refused"
    assert _ws_outcome("/ws/runs/", cookie=cookie, origin=evil) == "refused"
    assert _ws_outcome(f"/api/v1/ws/{secret_run.pk}", cookie=cookie, origin=evil) == 4401
    assert _ws_outcome(f"/api/v1/ws/{secret_run.pk}?token={WEBHOOK_KEY}", origin=evil) == "open"


@pytest.mark.django_db(transaction=True)
def test_stream_tokens_expire_die_with_their_client_and_cannot_be_forged(keys, settings, secret_run,
                                                                         in_memory_channel_layer, caplog):
    settings.ALLOWED_HOSTS = ["testserver"]
    client, _ = api_client_create(name="form", scopes=["intake", "read_own"])
    run = make_run(inquiry=make_inquiry(api_client=client))
    token = _token(run.pk, f"client:{client.pk}")
    assert _ws_outcome(f"/api/v1/ws/{run.pk}?token={token}") == "open"
    # Tampered: another run's id under the same signature.
    claims = signing.loads(token, salt=stream_token.SALT)
    forged = token.replace(signing.b64_encode(signing.JSONSerializer().dumps(claims)).decode(),
                           signing.b64_encode(signing.JSONSerializer().dumps({**claims, "r": str(secret_run.pk)})).decode())
    assert forged != token
    assert _ws_outcome(f"/api/v1/ws/{secret_run.pk}?token={forged}") == 4401
    # Signed with another salt (e.g. a session cookie's): not a stream token.
    assert _ws_outcome(f"/api/v1/ws/{run.pk}?token={signing.dumps({'r': str(run.pk), 'c': 'x'})}") == 4401
    settings.STREAM_TOKEN_TTL_SECONDS = 0
    time.sleep(1.1)
    assert _ws_outcome(f"/api/v1/ws/{run.pk}?token={token}") == 4401
    settings.STREAM_TOKEN_TTL_SECONDS = 3600
    api_client_set_active(client=client, active=False)
    assert _ws_outcome(f"/api/v1/ws/{run.pk}?token={token}") == 4401
    # A read_all key in a URL works, and says in the log that it should not be there.
    with caplog.at_level("WARNING", logger="autoflow.auth"):
        assert _ws_outcome(f"/api/v1/ws/{run.pk}?token={WEBHOOK_KEY}") == "open"
    assert any("stream_token" in r.getMessage() for r in caplog.records)
    assert WEBHOOK_KEY not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_socket_closes_after_its_lifetime_and_outlives_the_layers_group_expiry(keys, settings, secret_run):
    from channels.layers import channel_layers

    from autoflow.asgi import application

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                           "CONFIG": {"group_expiry": 1}}}
    channel_layers.backends.clear()
    settings.WEBSOCKET_HEARTBEAT_SECONDS = 0.3
    settings.WEBSOCKET_MAX_LIFETIME_SECONDS = 3.5

    async def scenario():
        com = WebsocketCommunicator(application, f"/api/v1/ws/{secret_run.pk}?token={_token(secret_run.pk)}",
                                    headers=[(b"host", b"testserver"), (b"origin", b"http://testserver")])
        try:
            assert (await com.connect(timeout=10))[0]
            assert (await com.receive_json_from(timeout=5))["type"] == "snapshot"
            assert (await com.receive_json_from(timeout=5))["type"] == "escalated"
            await asyncio.sleep(2.2)  # twice the layer's group expiry
            await get_channel_layer().group_send(run_group(secret_run.pk), {
                "type": "run.event", "event": {"type": "step", "n": 1}})
            seen = []
            while True:
                message = await com.receive_output(timeout=5)
                if message["type"] == "websocket.close":
                    return seen, message.get("code")
                seen.append(message["text"])
        finally:
            await com.disconnect(timeout=5)

    try:
        started = time.monotonic()
        seen, code = run_async(scenario)
        lived = time.monotonic() - started
    finally:
        channel_layers.backends.clear()
    assert any('"step"' in text for text in seen), seen
    assert any('"heartbeat"' in text for text in seen)
    assert code == 4012
    assert 3.0 < lived < 8, lived
