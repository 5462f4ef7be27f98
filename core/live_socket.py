"""What every long-lived WebSocket of ours does besides its own events: heartbeats, group
re-joins, and a bounded lifetime (WEBSOCKET_HEARTBEAT_SECONDS, WEBSOCKET_MAX_LIFETIME_SECONDS)."""

import asyncio
import contextlib
import time

from django.conf import settings

# "Reconnect": the socket's lifetime is over, not an error. A private code: daphne (autobahn) may
# send only 1000 or 3000-4999, so the standard 1012 ("service restart") is not available.
# static/autoflow/reconnect.js reconnects the console's sockets on it; API clients should too.
CLOSE_RECONNECT = 4012


class LiveSocket:
    """What every run socket does besides its own events: heartbeats, and a bounded lifetime.
    Each heartbeat re-joins the socket's groups (idempotent), so a layer's group expiry never
    silences a long-lived socket; at the lifetime's end it closes with CLOSE_RECONNECT."""

    groups: list[str]

    def start_heartbeat(self) -> None:
        self.opened_at = time.monotonic()
        self.heartbeat = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        lifetime = settings.WEBSOCKET_MAX_LIFETIME_SECONDS
        while True:
            left = lifetime - (time.monotonic() - self.opened_at)
            await asyncio.sleep(max(min(settings.WEBSOCKET_HEARTBEAT_SECONDS, left), 0))
            if time.monotonic() - self.opened_at >= lifetime:
                await self.close(code=CLOSE_RECONNECT)
                return
            for group in self.groups:
                await self.channel_layer.group_add(group, self.channel_name)
            await self.beat()

    async def beat(self) -> None:
        """Sent on each heartbeat; sockets whose clients expect nothing send nothing."""

    async def stop_heartbeat(self) -> None:
        heartbeat = getattr(self, "heartbeat", None)
        if heartbeat and heartbeat is not asyncio.current_task():
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        for group in getattr(self, "groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)
