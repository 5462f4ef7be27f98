"""The run page's live channel: the console consumer with the real Redis channel layer, an event
published from another process (as the worker does), and who may connect."""

import asyncio
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from scripts.common import REPO
from testutils.aio import run_async
from testutils.factories import make_inquiry, make_run, make_step

pytestmark = pytest.mark.django_db(transaction=True)

PUBLISH = """
import django, sys
django.setup()
from inquiries.realtime import publish_run_event
sys.exit(0 if publish_run_event(sys.argv[1], {"type": "step"}) else 1)
"""


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
    # Not `import autoflow.asgi` here: it sets DB_POOL=true in this process's environment, which
    # every process the later tests start would inherit.
    from autoflow.routing import websocket_urlpatterns

    assert any(str(p.pattern) == "ws/runs/<uuid:run_id>/" for p in websocket_urlpatterns)


def history_socket(user, query: bytes, published: list[tuple], receive: int) -> list[str]:
    """Open the history page's socket with its filters, publish (run, new) in order from another
    thread, as the worker does, and return the first `receive` messages."""
    from dashboard.consumers import RunListConsumer
    from inquiries.realtime import publish_run_listed

    async def scenario():
        com = WebsocketCommunicator(RunListConsumer.as_asgi(), "/ws/runs/")
        com.scope["user"] = user
        com.scope["query_string"] = query
        assert (await com.connect())[0]
        for run, new in published:
            await asyncio.to_thread(publish_run_listed, run.pk, new=new)
        messages = [await com.receive_from(timeout=5) for _ in range(receive)]
        await com.disconnect()
        return messages

    return run_async(scenario)


def test_history_gets_new_runs_at_the_top_and_status_changes_in_place(operator):
    running = make_run(inquiry=make_inquiry(subject="Just arrived"), status="running")
    faq = make_run(inquiry=make_inquiry(subject="Done one"), status="completed", intent="faq")

    new_row, changed = history_socket(operator, b"intent=&status=", [(running, True), (faq, False)], receive=2)

    assert new_row.startswith('<tbody hx-swap-oob="afterbegin:#run-rows"><tr id="run-')
    assert "Just arrived" in new_row
    assert changed.startswith(f'<tr hx-swap-oob="true" id="run-{faq.pk}"')
    assert "Completed" in changed


def test_history_live_rows_respect_the_filters(operator):
    support = make_run(inquiry=make_inquiry(subject="Support one"), status="running", intent="support")
    faq = make_run(inquiry=make_inquiry(subject="FAQ one"), status="running", intent="faq")

    [first] = history_socket(operator, b"intent=faq", [(support, True), (faq, True)], receive=1)

    assert "FAQ one" in first  # the support run was filtered out, so this came first


def test_history_live_rows_respect_the_band_language_and_sentiment_filters(operator):
    english = make_run(inquiry=make_inquiry(subject="English high"), status="running", confidence_band="high",
                       language="en", sentiment="neutral")
    german_low = make_run(inquiry=make_inquiry(subject="German low"), status="running", confidence_band="low",
                          language="de", sentiment="negative")
    german = make_run(inquiry=make_inquiry(subject="German high"), status="running", confidence_band="high",
                      language="de", sentiment="negative")

    published = [(english, True), (german_low, True), (german, True)]
    [first] = history_socket(operator, b"band=high&language=DE&sentiment=negative", published, receive=1)

    assert "German high" in first  # the other two were filtered out, so this came first
    assert '<abbr title="German">de</abbr>' in first
