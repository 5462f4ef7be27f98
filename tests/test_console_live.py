"""The run page's live channel: the console consumer with the real Redis channel layer, an event
published from another process (as the worker does), and who may connect."""

import asyncio
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from autoflow.asgi import application
from scripts.services import REPO
from tests.factories import make_inquiry, make_run, make_step

pytestmark = pytest.mark.django_db(transaction=True)

PUBLISH = """
import django, sys
django.setup()
from inquiries.realtime import publish_run_event
sys.exit(0 if publish_run_event(sys.argv[1], {"type": "step"}) else 1)
"""


def run_async(scenario):
    """Run a scenario, then close the database connections its sync_to_async thread opened
    (else the test database cannot be dropped at the end)."""
    from django.db import connections

    async def wrapped():
        try:
            return await scenario()
        finally:
            await database_sync_to_async(connections.close_all)()

    return asyncio.run(wrapped())


def communicator(run_id, user) -> WebsocketCommunicator:
    from dashboard.consumers import RunTimelineConsumer

    com = WebsocketCommunicator(RunTimelineConsumer.as_asgi(), f"/ws/runs/{run_id}/")
    com.scope["url_route"] = {"kwargs": {"run_id": run_id}}
    com.scope["user"] = user
    return com


def test_fragments_on_connect_then_again_after_an_event_from_another_process(operator):
    run = make_run(inquiry=make_inquiry(subject="Live one"), status="running", current_agent="classify_intent")

    async def scenario():
        com = communicator(run.pk, operator)
        connected, _ = await com.connect()
        assert connected
        first = await com.receive_from(timeout=5)
        await database_sync_to_async(make_step)(run=run, sequence=1, node="classify_intent")
        env = {"DJANGO_SETTINGS_MODULE": "autoflow.settings_test"}
        await asyncio.to_thread(subprocess.run, [sys.executable, "-c", PUBLISH, str(run.pk)], cwd=REPO,
                                env={**__import__("os").environ, **env}, check=True, timeout=30)
        second = await com.receive_from(timeout=10)
        await com.disconnect()
        return first, second

    first, second = run_async(scenario)
    for html in (first, second):
        assert 'id="run-header"' in html
        assert 'id="timeline"' in html
        assert 'id="response"' in html
        assert 'id="events"' in html
    assert "No step yet" in first
    assert 'id="step-1"' in second


@pytest.mark.parametrize("who", ["anonymous", "outsider"])
def test_only_console_users_may_connect(who, outsider):
    run = make_run()
    user = AnonymousUser() if who == "anonymous" else outsider

    async def scenario():
        com = communicator(run.pk, user)
        await com.connect()
        closed = await com.receive_output(timeout=5)
        await com.disconnect()
        return closed

    assert run_async(scenario) == {"type": "websocket.close", "code": 4401}


def test_an_unknown_run_is_closed_with_4404(auditor):
    async def scenario():
        com = communicator("00000000-0000-0000-0000-000000000000", auditor)
        await com.connect()
        closed = await com.receive_output(timeout=5)
        await com.disconnect()
        return closed

    assert run_async(scenario) == {"type": "websocket.close", "code": 4404}


def test_the_route_is_served_by_the_asgi_application():
    assert application is not None
    from autoflow.routing import websocket_urlpatterns

    assert any(str(p.pattern) == "ws/runs/<uuid:run_id>/" for p in websocket_urlpatterns)
