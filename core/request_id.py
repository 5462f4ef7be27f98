"""The request id of the work in progress, shared by the middleware, logs and error bodies."""

import re
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# A client-supplied id is echoed only when it is short and plain; anything else is replaced.
_SANE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")


def get_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None):
    return _request_id.set(value)


def clear_request_id(**kwargs) -> None:
    _request_id.set(None)


def sanitise_request_id(supplied: str | None) -> str:
    if supplied and _SANE.match(supplied):
        return supplied
    return uuid.uuid4().hex
