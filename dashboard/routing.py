from django.urls import path

from .consumers import RunTimelineConsumer

websocket_urlpatterns = [
    path("ws/runs/<uuid:run_id>/", RunTimelineConsumer.as_asgi()),
]
