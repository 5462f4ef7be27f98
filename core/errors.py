"""The one JSON error envelope (docs/api.md, "Errors"), for the API and for Django's own 404/500 pages."""

from typing import Any

from django.conf import settings
from django.http import JsonResponse

from .request_id import get_request_id


def error_body(code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    return {"error": code, "message": message, "details": details or [], "request_id": get_request_id() or ""}


def error_response(status: int, code: str, message: str, *, details: list[Any] | None = None,
                   headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def internal_message(exc: Exception) -> str:
    """No exception text in production; the class and text help a developer elsewhere."""
    if settings.APP_ENV == "production":
        return "Internal server error. Quote the request id when reporting it."
    return f"Internal server error: {type(exc).__name__}: {exc}"
