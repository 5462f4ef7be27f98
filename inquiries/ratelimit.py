"""Intake rate limits per client IP and per API key (WEBHOOK_RATE_LIMIT), counted in Redis through
Django's cache (django-ratelimit). Without Redis they fail open: intake stays up (and /health says
`rate_limiting: fail_open`)."""

from django.conf import settings
from django_ratelimit.core import get_usage

from autoflow.redis_client import redis_is_tripped

from .errors import ApiError, ErrorCode


def _usage(request, *, group: str, value: str, rate: str) -> dict | None:
    if redis_is_tripped():
        return None
    return get_usage(request, group=group, key=lambda _group, _request: value, rate=rate, increment=True)


def enforce(request, *, group: str, value: str, rate: str | None = None) -> None:
    """Count this request against `group`/`value`; raise 429 when over the limit. The tightest
    limit seen so far is kept on the request for the RateLimit-* headers of a success."""
    usage = _usage(request, group=group, value=value, rate=rate or settings.WEBHOOK_RATE_LIMIT)
    if usage is None:
        return
    remaining = max(usage["limit"] - usage["count"], 0)
    reset = max(usage["time_left"], 1)
    headers = {"RateLimit-Limit": str(usage["limit"]), "RateLimit-Remaining": str(remaining),
               "RateLimit-Reset": str(reset)}
    current = getattr(request, "ratelimit_headers", None)
    if current is None or remaining < int(current["RateLimit-Remaining"]):
        request.ratelimit_headers = headers
    if usage["should_limit"]:
        raise ApiError(429, ErrorCode.RATE_LIMITED,
                       f"Too many requests: the limit is {usage['limit']} per window; retry in {reset} s.",
                       headers={**headers, "Retry-After": str(reset)})
