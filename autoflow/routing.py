"""WebSocket routes of every app, gathered for autoflow.asgi."""

from dashboard.routing import websocket_urlpatterns as console_websockets
from inquiries.api.v1.routing import websocket_urlpatterns as api_v1_websockets

websocket_urlpatterns = [*api_v1_websockets, *console_websockets]
