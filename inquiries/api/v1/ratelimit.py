"""Intake rate limits per client IP and per API key (WEBHOOK_RATE_LIMIT), counted in Redis through
Django's cache (django-ratelimit). Without Redis they fail open: intake stays up (and /health says
`rate_limiting: fail_open`)."""

from django.conf import settings
from django_ratelimit.core import get_usage

from core.redis_client import redis_is_tripped
from inquiries.errors import RateLimited


def _usage(request, *, counter: str, per: str, rate: str) -> dict | None:
    if redis_is_tripped():
        return None
    # django-ratelimit's `group` is our counter; its `key` callable returns whom it counts.
    return get_usage(request, group=counter, key=lambda _group, _request: per, rate=rate, increment=True)


def headers(*, limit: int, remaining: int, reset: int) -> dict[str, str]:
    """The RateLimit-* headers of an answer under (or over) a limit."""
    return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining), "RateLimit-Reset": str(reset)}


def enforce(request, *, counter: str, per: str, rate: str | None = None) -> None:
    """Count this request on `counter` (e.g. `intake-ip`) for `per` (the IP, the caller); raise
    RateLimited when over the limit. The tightest limit seen so far is kept on the request for
    the RateLimit-* headers of a success."""
    usage = _usage(request, counter=counter, per=per, rate=rate or settings.WEBHOOK_RATE_LIMIT)
    if usage is None:
        return
    remaining = max(usage["limit"] - usage["count"], 0)
    reset = max(usage["time_left"], 1)
    current = getattr(request, "ratelimit_headers", None)
    if current is None or remaining < int(current["RateLimit-Remaining"]):
        request.ratelimit_headers = headers(limit=usage["limit"], remaining=remaining, reset=reset)
    if usage["should_limit"]:
        raise RateLimited(limit=usage["limit"], remaining=remaining, reset=reset)


def copy_headers(request, response) -> None:
    """Put the tightest limit this request was counted on (`enforce`) on its answer."""
    for name, value in getattr(request, "ratelimit_headers", {}).items():
        response[name] = value

