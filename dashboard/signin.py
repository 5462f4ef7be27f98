"""Sign-in throttling (django-axes), for the console's sign-in and the admin's alike: after
LOGIN_FAILURE_LIMIT failed sign-ins for one account (from any address) or from one address (for
any account), sign-in is refused for LOGIN_LOCKOUT_MINUTES, the right password included. The
refusal is a page with status 429 and Retry-After; the lock-out itself is an audit entry and a
warning on the `autoflow.audit` logger."""

import logging
import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit, get_lockout_parameters
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from inquiries import services
from inquiries.models import AuditAction


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' AXES_LOCKOUT_CALLABLE: the answer to a sign-in attempt while locked out."""
    cool_off = get_cool_off(request)
    seconds = math.ceil(cool_off.total_seconds()) if cool_off else 0
    response = render(request, "registration/locked_out.html",
                      {"minutes": math.ceil(seconds / 60), "admin": request.path.startswith("/admin/")}, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


def _reached(request: HttpRequest, credentials) -> list[str]:
    """The lock-out parameters (username, ip_address) whose failures reached the limit with this
    attempt: each count grows by one per failure, so it equals the limit exactly once per lock-out."""
    handler = AxesProxyHandler.get_implementation()
    limit = get_failure_limit(request, credentials)
    counts = [sum(attempt.failures_since_start for attempt in attempts)
              for attempts in handler.get_user_attempts(request, credentials)]
    names = ["+".join(p) if isinstance(p, list | tuple) else p for p in get_lockout_parameters(request, credentials)]
    return [name for name, count in zip(names, counts, strict=False) if count == limit]


def record_lock_out(sender, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs) -> None:
    """django-axes' `user_locked_out` signal, sent on every failure from the limit on: the one
    that locks an account or an address is audited (no actor: nobody is signed in)."""
    credentials = getattr(request, "axes_credentials", None)
    reached = _reached(request, credentials)
    if not reached:
        return  # still locked: this lock-out is already in the audit log
    services.audit_record(
        action=AuditAction.LOGIN_LOCKED_OUT, target=username or "", ip=ip_address or "", level=logging.WARNING,
        detail={"locked": reached, "failure_limit": get_failure_limit(request, credentials),
                "cool_off_seconds": int(get_cool_off(request).total_seconds()) if get_cool_off(request) else None,
                "sign_in": "admin" if request.path.startswith("/admin/") else "console"},
    )
