"""Every API error answers with the one envelope: {error, message, details, request_id}.

Domain code raises typed errors (inquiries/errors.py) that know nothing of HTTP; `ANSWERS` is
the one place that gives each its status and headers (docs/api.md lists them per route)."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from core.errors import error_response, internal_message
from inquiries.errors import (
    DomainError,
    ErrorCode,
    Forbidden,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidJson,
    InvalidRequest,
    InvalidSignature,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
)

from . import ratelimit

logger = logging.getLogger("autoflow.api")


@dataclass(frozen=True)
class Answer:
    """How the API answers a domain error: its status, and the headers the error's fields make."""

    status: int
    headers: Callable[[DomainError], dict[str, str]] = lambda exc: {}


ANSWERS: dict[type[DomainError], Answer] = {
    InvalidRequest: Answer(422),
    InvalidJson: Answer(422),
    UnsupportedMediaType: Answer(415),
    PayloadTooLarge: Answer(413),
    Unauthorized: Answer(401, lambda exc: {"WWW-Authenticate": f'ApiKey header="{exc.key_header}"'}),
    InvalidSignature: Answer(401),
    Forbidden: Answer(403),
    RateLimited: Answer(429, lambda exc: {
        **ratelimit.headers(limit=exc.limit, remaining=exc.remaining, reset=exc.reset),
        "Retry-After": str(exc.retry_after)}),
    IdempotencyKeyReused: Answer(422),
    IdempotencyKeyInProgress: Answer(409, lambda exc: {"Retry-After": str(exc.retry_after)}),
}

_HTTP_CODES = {
    400: ErrorCode.VALIDATION_ERROR, 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED, 413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE, 429: ErrorCode.RATE_LIMITED, 503: ErrorCode.SERVICE_UNAVAILABLE,
}
DATABASE_DOWN = {"Retry-After": "5"}


def _clean_validation_errors(errors) -> list[dict]:
    """pydantic's errors, reduced to what is JSON and useful: where, what, which kind."""
    cleaned = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", [])]
        if loc[:2] == ["body", "payload"]:  # ninja's parameter name is ours, not the client's
            loc = ["body", *loc[2:]]
        cleaned.append({
            "loc": loc,
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        })
    return cleaned


def register_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(DomainError)
    def on_domain_error(request, exc: DomainError):
        answer = next((ANSWERS[cls] for cls in type(exc).__mro__ if cls in ANSWERS), None)
        if answer is None:  # an error no route should let through (e.g. ActionRefused): a bug
            return on_unexpected(request, exc)
        return error_response(answer.status, exc.code, exc.message, details=exc.details, headers=answer.headers(exc))

    @api.exception_handler(ValidationError)
    def on_validation_error(request, exc: ValidationError):
        return error_response(422, ErrorCode.VALIDATION_ERROR, "The request is not valid.",
                              details=_clean_validation_errors(exc.errors))

    @api.exception_handler(AuthenticationError)
    def on_authentication_error(request, exc: AuthenticationError):
        return error_response(401, ErrorCode.UNAUTHORIZED,
                              "A valid X-API-Key header (or a staff session) is required.",
                              headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})

    @api.exception_handler(HttpError)
    def on_http_error(request, exc: HttpError):
        if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
            return error_response(422, ErrorCode.INVALID_JSON, "The body is not valid JSON.")
        return error_response(exc.status_code, _HTTP_CODES.get(exc.status_code, ErrorCode.VALIDATION_ERROR),
                              str(exc))

    @api.exception_handler(Http404)
    def on_not_found(request, exc: Http404):
        return error_response(404, ErrorCode.NOT_FOUND, str(exc) or "Not found.")

    @api.exception_handler(DatabaseError)
    def on_database_error(request, exc: DatabaseError):
        if isinstance(exc, OperationalError | InterfaceError):
            logger.error("database unavailable: %s", type(exc).__name__)
            return error_response(503, ErrorCode.SERVICE_UNAVAILABLE,
                                  "The database is unavailable; nothing was stored. Retry later.",
                                  headers=DATABASE_DOWN)
        logger.error("database error", exc_info=exc)
        return error_response(500, ErrorCode.INTERNAL_ERROR, internal_message(exc))

    @api.exception_handler(Exception)
    def on_unexpected(request, exc: Exception):
        logger.error("unhandled API error", exc_info=exc)
        return error_response(500, ErrorCode.INTERNAL_ERROR, internal_message(exc))
