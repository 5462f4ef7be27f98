"""The Content-Security-Policy header (django-csp; the policy is CONTENT_SECURITY_POLICY in
autoflow/settings_security.py), with the page's own WebSocket origin added to `connect-src`.

CSP3 lets 'self' match ws:/wss: on the page's host and port (Chromium, Firefox and Safari do),
but browsers before it do not: naming the origin keeps the console's live updates working
there too. The host is the request's, which Django has checked against ALLOWED_HOSTS, and the
scheme follows the request's (wss behind TLS), so nothing but our own origin is added."""

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.core.exceptions import DisallowedHost


class CSPMiddleware(BaseCSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        socket_origin = f"{'wss' if request.is_secure() else 'ws'}://{host}"
        parts.update = {**(parts.update or {}), "connect-src": [socket_origin]}
        return parts
