"""The client's address. Behind our own reverse proxy (nginx, on a trusted address) it is the
`X-Real-IP` the proxy set, never a client-supplied `X-Forwarded-For`."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    cached = getattr(request, "_client_ip", None)
    if cached is not None:
        return cached
    peer = request.META.get("REMOTE_ADDR", "") or ""
    address = peer
    if peer in settings.TRUSTED_PROXIES:
        forwarded = request.META.get("HTTP_X_REAL_IP", "").strip()
        try:
            address = str(ipaddress.ip_address(forwarded))
        except ValueError:
            address = peer
    request._client_ip = address
    return address
