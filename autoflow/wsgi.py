"""WSGI entry point (gunicorn behind nginx, scripts/web.py), for plain HTTP (WebSockets: asgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autoflow.settings")

from core import tracing  # noqa: E402

# Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; before the handler is built: it adds a middleware.
tracing.setup("autoflow-web", django=True)

application = get_wsgi_application()  # sets Django up

from autoflow.checks import refuse_to_start_on_errors  # noqa: E402

# gunicorn does not run Django's system checks; a production server must not start misconfigured.
refuse_to_start_on_errors()
