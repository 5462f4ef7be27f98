"""ASGI entry point (daphne): HTTP through Django, WebSockets through Channels."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autoflow.settings")
# An ASGI server shares connections through psycopg's pool (Django: no persistent connections
# under ASGI). Set before the settings load; DB_POOL=false in the environment still wins.
os.environ.setdefault("DB_POOL", "true")

from django.core.asgi import get_asgi_application  # noqa: E402

from core import tracing  # noqa: E402

# Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; before the handler is built: it adds a middleware.
tracing.setup("autoflow-web", django=True)

django_asgi_app = get_asgi_application()  # sets Django up before anything imports models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from autoflow.checks import refuse_to_start_on_errors  # noqa: E402
from autoflow.routing import websocket_urlpatterns  # noqa: E402

# daphne does not run Django's system checks; a production server must not start misconfigured.
refuse_to_start_on_errors()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Each route checks its own Origin rule (core/websocket_security.py).
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
