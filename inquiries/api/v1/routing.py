from django.urls import path

from .consumers import RunEventsConsumer

websocket_urlpatterns = [
    path("api/v1/ws/<uuid:run_id>", RunEventsConsumer.as_asgi()),
]
