"""WS /ws/runs/<run_id>/: the run page's live timeline. Server-rendered fragments for the htmx
ws extension (elements swapped by id): on connect the whole header, timeline and event log (so a
reconnect misses nothing), then the same fragments again after each event on run.<run_id>.
Console users only (the session's user, checked in connect)."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from core.live_socket import LiveSocket
from inquiries import selectors
from inquiries.realtime import RUNS_GROUP, run_group

from .permissions import is_console_user

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


def render_run_fragments(run_id, user) -> str | None:
    from .views import LIVE_PARTS, _run_context

    run = selectors.run_get(run_id=run_id)
    if run is None:
        return None
    context = {**_run_context(run), "user": user, "live": True}
    return "".join(render_to_string(f"dashboard/run.html#{name}", context) for name in LIVE_PARTS)


class RunTimelineConsumer(LiveSocket, AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        self.groups = []
        user = self.scope.get("user")
        await self.accept()
        if user is None or not await database_sync_to_async(is_console_user)(user):
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        # Join first, then send the current state: no event can fall in between.
        self.groups = [run_group(self.run_id)]
        await self.channel_layer.group_add(self.groups[0], self.channel_name)
        if not await self._send_fragments():
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.start_heartbeat()

    async def _send_fragments(self) -> bool:
        html = await database_sync_to_async(render_run_fragments)(self.run_id, self.scope["user"])
        if html is None:
            return False
        await self.send(text_data=html)
        return True

    async def disconnect(self, code) -> None:
        await self.stop_heartbeat()

    async def run_event(self, message) -> None:
        # The event is a hint; the fragments are re-read from PostgreSQL.
        await self._send_fragments()


class RunListConsumer(LiveSocket, AsyncWebsocketConsumer):
    """WS /ws/runs/?<history filters>: a run that starts is inserted at the top of the history
    page's first page, a run that ends has its row replaced; runs outside the filters are not sent."""

    async def connect(self) -> None:
        from urllib.parse import parse_qs

        user = self.scope.get("user")
        self.groups = []
        if user is None or not await database_sync_to_async(is_console_user)(user):
            await self.accept()
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.filters = {key: (query.get(key) or [""])[0]
                        for key in ("status", "intent", "q", "escalated", "band", "language", "sentiment")}
        self.filters["language"] = self.filters["language"].strip().lower()  # as the history form cleans it
        self.groups = [RUNS_GROUP]
        await self.channel_layer.group_add(RUNS_GROUP, self.channel_name)  # before accepting: nothing is missed
        await self.accept()
        self.start_heartbeat()

    async def disconnect(self, code) -> None:
        await self.stop_heartbeat()

    async def run_listed(self, message) -> None:
        html = await database_sync_to_async(render_run_row)(message["run_id"], self.filters, message["new"])
        if html:
            await self.send(text_data=html)


def render_run_row(run_id, filters: dict[str, str], new: bool) -> str:
    run = selectors.run_history(**filters).filter(pk=run_id).first()
    if run is None:
        return ""
    row = render_to_string("dashboard/_run_rows.html", {"runs": [run]}).strip()
    if new:  # the children of this tbody go to the top of the page's table
        return f'<tbody hx-swap-oob="afterbegin:#run-rows">{row}</tbody>'
    return row.replace("<tr ", '<tr hx-swap-oob="true" ', 1)
