"""The run-scoped stream token of the webhook's answer: what a caller puts in the WebSocket URL
instead of its API key (URLs end up in proxy and browser logs; a leaked token opens one run's
events for STREAM_TOKEN_TTL_SECONDS, a leaked key everything the key can do).

The token is Django's signed, timestamped value (SECRET_KEY, its own salt) of the run and the
caller; it is checked again on use, so a revoked API client's tokens stop working too."""

import logging

from django.conf import settings
from django.core import signing

from inquiries.models import ApiClient
from inquiries.services import Caller

logger = logging.getLogger("autoflow.auth")
SALT = "autoflow.stream-token"


def issue(*, run_id, caller: Caller) -> str:
    return signing.dumps({"r": str(run_id), "c": caller.identity}, salt=SALT, compress=False)


def ws_url(run_id, token: str) -> str:
    return f"/api/v1/ws/{run_id}?token={token}"


def admits(token: str, *, run_id) -> bool:
    """Whether `token` is an unexpired stream token of this run whose caller may still read."""
    try:
        claims = signing.loads(token, salt=SALT, max_age=settings.STREAM_TOKEN_TTL_SECONDS)
    except signing.BadSignature:  # SignatureExpired included
        return False
    if not isinstance(claims, dict) or claims.get("r") != str(run_id):
        return False
    identity = str(claims.get("c", ""))
    if identity.startswith("client:"):
        client_id = identity.removeprefix("client:")
        return client_id.isdigit() and ApiClient.objects.filter(pk=int(client_id), is_active=True).exists()
    return True
