"""WebSocket routes of every app, gathered for autoflow.asgi."""

websocket_urlpatterns: list = []
