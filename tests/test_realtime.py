"""A run event published once its transaction commits (as the services do) reaches subscribers
through the real Redis channel layer, and not before; and the worker's own pipelined publish
reaches a group's subscribers."""

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from inquiries.realtime import publish_run_event, run_group

pytestmark = pytest.mark.django_db


def test_events_wait_for_the_commit(django_capture_on_commit_callbacks):
    run_id = uuid.uuid4()
    event = {"type": "step", "run_id": str(run_id), "step": {"node": "classify_intent"}}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        transaction.on_commit(lambda: publish_run_event(run_id, event))
    assert len(callbacks) == 1

    async def subscriber_sees() -> tuple[bool, dict]:
        # One event loop for the whole exchange: the channel layer's queues belong to one loop.
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(run_group(run_id), channel)
        # One receive for the whole exchange: the pub/sub layer drops a channel whose receive is
        # cancelled (as happens when a consumer leaves).
        received = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0.5)
        early = received.done()
        await sync_to_async(callbacks[0])()  # the commit
        async with asyncio.timeout(5):
            return early, await received

    early, message = async_to_sync(subscriber_sees)()
    assert early is False  # nothing before the commit
    assert message == {"type": "run.event", "event": event}


def test_a_message_published_in_a_redis_pipeline_reaches_the_group():
    """The worker sends live events as a PUBLISH inside its snapshot pipeline (inquiries/hotstate.py):
    the bytes must be exactly what the channel layer's subscribers decode."""
    from core.redis_client import get_redis
    from inquiries.realtime import run_event_message, wire

    run_id = uuid.uuid4()
    event = {"type": "completed", "run": {"run_id": str(run_id), "status": "completed"}}

    async def subscriber_sees() -> dict:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(run_group(run_id), channel)
        received = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0.2)  # the subscription is in place

        def publish() -> None:
            pipe = get_redis().pipeline(transaction=False)
            pipe.publish(*wire(run_group(run_id), run_event_message(event)))
            pipe.execute()

        await sync_to_async(publish)()
        async with asyncio.timeout(5):
            return await received

    assert async_to_sync(subscriber_sees)() == {"type": "run.event", "event": event}
