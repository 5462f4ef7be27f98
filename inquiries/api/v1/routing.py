from django.urls import path

from core.websocket_security import api_origins

from .consumers import RunEventsConsumer

websocket_urlpatterns = [
    path("api/v1/ws/<uuid:run_id>", api_origins(RunEventsConsumer.as_asgi())),
]
