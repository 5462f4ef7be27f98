from django.urls import path

from .consumers import RunListConsumer, RunTimelineConsumer

websocket_urlpatterns = [
    path("ws/runs/", RunListConsumer.as_asgi()),
    path("ws/runs/<uuid:run_id>/", RunTimelineConsumer.as_asgi()),
]
