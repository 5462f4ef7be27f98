"""WSGI entry point, for HTTP-only deployments behind a WSGI server (WebSockets need asgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autoflow.settings")

application = get_wsgi_application()
