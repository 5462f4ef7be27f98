"""WS /api/v1/ws/{run_id}?token=<stream_token>: a `snapshot` on connect, then `step` events, one
terminal event (`completed`, `escalated` or `error`) carrying the final RunStatus, and `heartbeat`s.

Who may connect: the run's stream token (the webhook's answer), a same-site staff session, or
(discouraged: URLs get logged) an API key with read_all; anyone while auth is not required.
Refusals close with 4401 before the run is looked up, so they say nothing about it; an unknown
run closes with 4404. After WEBSOCKET_MAX_LIFETIME_SECONDS the socket closes with 4012
("reconnect"); the client reconnects and gets a fresh snapshot."""

import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from core.live_socket import LiveSocket
from core.timestamps import utc_iso
from inquiries import selectors
from inquiries.models import Run
from inquiries.realtime import run_group

logger = logging.getLogger("autoflow.auth")
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


def _authorised(asgi_scope, token: str | None, run_id) -> bool:
    from core.websocket_security import is_same_site
    from inquiries.api.v1 import stream_token
    from inquiries.api.v1.auth import auth_required, identify

    user = asgi_scope.get("user")
    if user is not None and user.is_authenticated and user.is_active and user.is_staff and is_same_site(asgi_scope):
        return True
    if not token:
        return not auth_required()
    if stream_token.admits(token, run_id=run_id):
        return True
    caller = identify(token)
    if caller is not None and caller.reads_all:
        logger.warning("an API key was sent in a WebSocket URL (%s); URLs get logged: use the run's stream_token",
                       caller.label)
        return True
    return False


class RunEventsConsumer(LiveSocket, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        self.groups = []
        token = (parse_qs(self.scope.get("query_string", b"").decode()).get("token") or [None])[0]
        # Refusals are sent as close codes after accepting, so a client can tell why (a close
        # before accepting reaches it only as a bare 403 handshake failure).
        if not await database_sync_to_async(_authorised)(self.scope, token, self.run_id):
            await self.accept()
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        snapshot = await database_sync_to_async(selectors.run_status)(run_id=self.run_id)
        if snapshot is None:
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        # Join before sending the snapshot, so that no event falls between the two.
        self.groups = [run_group(self.run_id)]
        await self.channel_layer.group_add(self.groups[0], self.channel_name)
        await self.accept()
        await self.send_json({"type": "snapshot", "run": snapshot})
        if snapshot["status"] in Run.TERMINAL_STATUSES:
            await self.send_json({"type": snapshot["status"], "run": snapshot})
        self.start_heartbeat()

    async def beat(self) -> None:
        await self.send_json({"type": "heartbeat", "at": utc_iso(timezone.now())})

    async def disconnect(self, code) -> None:
        await self.stop_heartbeat()

    async def run_event(self, message) -> None:
        await self.send_json(message["event"])
