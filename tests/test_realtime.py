"""The worker's publishing helper sends only after its transaction commits, through the real
Redis channel layer."""

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from inquiries.realtime import publish_run_event_on_commit, run_group

pytestmark = pytest.mark.django_db


def test_events_wait_for_the_commit(django_capture_on_commit_callbacks):
    run_id = uuid.uuid4()
    event = {"type": "step", "run_id": str(run_id), "step": {"node": "classify_intent"}}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        publish_run_event_on_commit(run_id, event)
    assert len(callbacks) == 1

    async def subscriber_sees() -> tuple[bool, dict]:
        # One event loop for the whole exchange: the channel layer's queues belong to one loop.
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(run_group(run_id), channel)
        try:
            async with asyncio.timeout(0.5):
                await layer.receive(channel)
            early = True
        except TimeoutError:
            early = False
        await sync_to_async(callbacks[0])()  # the commit
        async with asyncio.timeout(5):
            return early, await layer.receive(channel)

    early, message = async_to_sync(subscriber_sees)()
    assert early is False  # nothing before the commit
    assert message == {"type": "run.event", "event": event}
