"""Origin checks for WebSockets.

Browsers always send `Origin`, and cross-site WebSocket hijacking is what an Origin check stops:
a present Origin must be one of our hosts (ALLOWED_HOSTS) or an allowed API origin (CORS_ORIGINS).
Server-to-server clients (the integrations the webhook serves) send none; they are let through to
the consumer, which still demands the token or a staff session.
"""

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def origin_checked(application) -> BrowserOriginValidator:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, [*hosts, *settings.CORS_ORIGINS])
