"""WS /api/v1/ws/{run_id}?token=<key>: a `snapshot` on connect, then `step` events, one terminal
event (`completed`, `escalated` or `error`) carrying the final RunStatus, and `heartbeat`s."""

import asyncio
import contextlib
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from core.timestamps import utc_iso
from inquiries import selectors
from inquiries.models import Run
from inquiries.realtime import run_group

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


def _authorised(asgi_scope, token: str | None) -> bool:
    from core.websocket_security import is_same_site
    from inquiries.api.v1.auth import identify

    if not settings.WEBHOOK_API_KEY:
        return True
    user = asgi_scope.get("user")
    if user is not None and user.is_authenticated and user.is_active and user.is_staff and is_same_site(asgi_scope):
        return True
    return identify(token) is not None


class RunEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        self.heartbeat: asyncio.Task | None = None
        self.group = run_group(self.run_id)
        token = (parse_qs(self.scope.get("query_string", b"").decode()).get("token") or [None])[0]
        # Refusals are sent as close codes after accepting, so a client can tell why (a close
        # before accepting reaches it only as a bare 403 handshake failure).
        if not await database_sync_to_async(_authorised)(self.scope, token):
            await self.accept()
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        snapshot = await database_sync_to_async(selectors.run_status)(run_id=self.run_id)
        if snapshot is None:
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        # Join before sending the snapshot, so that no event falls between the two.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "snapshot", "run": snapshot})
        if snapshot["status"] in Run.TERMINAL_STATUSES:
            await self.send_json({"type": snapshot["status"], "run": snapshot})
        self.heartbeat = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(settings.WEBSOCKET_HEARTBEAT_SECONDS)
            await self.send_json({"type": "heartbeat", "at": utc_iso(timezone.now())})

    async def disconnect(self, code) -> None:
        if self.heartbeat:
            self.heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.heartbeat
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def run_event(self, message) -> None:
        await self.send_json(message["event"])
