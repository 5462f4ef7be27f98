"""Error codes, and the typed errors domain code raises.

Each error names what went wrong (`code`, one of `ErrorCode`, and a message) and nothing about
HTTP: the API maps each class to its status and headers in one table
(inquiries/api/v1/errors.py; the statuses are listed in docs/api.md), and the console shows
`ActionRefused` as a message of its own.
"""

from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    INVALID_JSON = "invalid_json"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNAUTHORIZED = "unauthorized"
    INVALID_SIGNATURE = "invalid_signature"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    RATE_LIMITED = "rate_limited"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_PROGRESS = "idempotency_key_in_progress"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL_ERROR = "internal_error"
    ACTION_REFUSED = "action_refused"  # operator actions in the console; the API never answers it


class DomainError(Exception):
    """Something the caller asked for cannot be done. `message` is for people; `details` (a
    list of JSON values) says where, when there is more to say."""

    code: ClassVar[ErrorCode]
    default_message: ClassVar[str] = ""

    def __init__(self, message: str | None = None, *, details: list[Any] | None = None):
        self.message = message if message is not None else self.default_message
        self.details = details or []
        super().__init__(self.message)


# --- The request itself ---------------------------------------------------------------------------

class InvalidRequest(DomainError):
    """The request is well-formed JSON but not what the route accepts."""

    code = ErrorCode.VALIDATION_ERROR


class InvalidJson(DomainError):
    code = ErrorCode.INVALID_JSON
    default_message = "The body is not valid JSON."


class UnsupportedMediaType(DomainError):
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    default_message = "Send the inquiry as application/json."


class PayloadTooLarge(DomainError):
    code = ErrorCode.PAYLOAD_TOO_LARGE

    def __init__(self, *, limit: int):
        self.limit = limit
        super().__init__(f"The body is larger than {limit} bytes.")


# --- Who is calling -------------------------------------------------------------------------------

class Unauthorized(DomainError):
    """No valid key. `key_header` names the header the caller should send it in."""

    code = ErrorCode.UNAUTHORIZED
    default_message = "A valid X-API-Key header is required."

    def __init__(self, message: str | None = None, *, key_header: str = "X-API-Key"):
        self.key_header = key_header
        super().__init__(message)


class Forbidden(DomainError):
    """A valid key whose scopes do not cover the route (docs/api.md, "Keys and scopes")."""

    code = ErrorCode.FORBIDDEN
    default_message = "This key's scopes do not allow this request."


class InvalidSignature(DomainError):
    code = ErrorCode.INVALID_SIGNATURE
    default_message = "The webhook signature is missing or invalid."


class RateLimited(DomainError):
    """Over the limit: `limit` requests per window, `remaining` of them left, the window ends in
    `reset` seconds (when the caller may retry)."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, *, limit: int, remaining: int, reset: int):
        self.limit, self.remaining, self.reset = limit, remaining, reset
        super().__init__(f"Too many requests: the limit is {limit} per window; retry in {reset} s.")

    @property
    def retry_after(self) -> int:
        return self.reset


# --- Idempotency ----------------------------------------------------------------------------------

class IdempotencyKeyReused(DomainError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED
    default_message = "This Idempotency-Key was already used with a different request body."


class IdempotencyKeyInProgress(DomainError):
    """Another request with the same key is still being stored; retry after `retry_after` s."""

    code = ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS
    default_message = "A request with this Idempotency-Key is still being processed; retry shortly."

    def __init__(self, *, retry_after: int = 1):
        self.retry_after = retry_after
        super().__init__()


# --- Operator actions -----------------------------------------------------------------------------

class ActionRefused(DomainError):
    """The action does not apply to the run in its current state (the message says why)."""

    code = ErrorCode.ACTION_REFUSED
