"""Origin checks for WebSockets.

Browsers always send `Origin`, and cross-site WebSocket hijacking is what an Origin check stops.
Two rules, because two kinds of socket carry two kinds of credential:
- console sockets (`/ws/…`) are authenticated by the session cookie, which a browser sends from
  any site: a present Origin must be one of our own hosts (ALLOWED_HOSTS), whatever CORS allows;
- the API socket (`/api/v1/ws/…`) is authenticated by its token: an allowed API origin
  (CORS_ORIGINS) may open it too, but a session counts there only from our own hosts
  (`is_same_site`), so CORS_ORIGINS="*" never lends an operator's cookie to another site.
Server-to-server clients (the integrations the webhook serves) send no Origin; they are let
through to the consumer, which still demands the token or a staff session.
"""

from urllib.parse import urlparse

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def own_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts


def same_site_only(application) -> BrowserOriginValidator:
    return BrowserOriginValidator(application, own_hosts())


def api_origins(application) -> BrowserOriginValidator:
    return BrowserOriginValidator(application, [*own_hosts(), *settings.CORS_ORIGINS])


def is_same_site(scope) -> bool:
    """True when the socket comes from one of our own pages, or from no browser at all."""
    origin = dict(scope.get("headers", [])).get(b"origin")
    if origin is None:
        return True
    return BrowserOriginValidator(None, own_hosts()).valid_origin(urlparse(origin.decode("latin1").lower()))
