from django.urls import path

from core.websocket_security import same_site_only

from .consumers import RunListConsumer, RunTimelineConsumer

websocket_urlpatterns = [
    path("ws/runs/", same_site_only(RunListConsumer.as_asgi())),
    path("ws/runs/<uuid:run_id>/", same_site_only(RunTimelineConsumer.as_asgi())),
]
