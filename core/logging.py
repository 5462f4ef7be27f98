"""Log formatting: UTC ISO 8601 timestamps and the current request id on every line."""

import logging
import re
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from .request_id import get_request_id
from .timestamps import utc_iso


class RequestIDFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = get_request_id() or "-"
        return True


class _UTCTime:
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return utc_iso(datetime.fromtimestamp(record.created, tz=UTC), timespec="milliseconds")


class UTCFormatter(_UTCTime, logging.Formatter):
    pass


class JSONFormatter(_UTCTime, _JsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "timestamp", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)


# --- LOG_REDACT_PII: e-mail addresses and phone numbers out of log lines -------------------------

# Both patterns run in linear time on any text (tests/test_redos.py): their repeats are bounded,
# so a long run of letters, digits or separators is never rescanned from each of its positions.
# The local part of an address has at most 64 characters (RFC 5321).
EMAIL = re.compile(r"[\w.%+-]{1,64}@[\w-]+(?:\.[\w-]+)+")
# A phone number: an optional +, then 7-15 digits with the separators people type (at most 40
# characters). ISO dates and IPv4 addresses look alike and are left alone; so are ids inside words
# (UUIDs, hashes).
PHONE = re.compile(r"(?<![\w.:/+-])\+?\(?\d[\d\s().-]{5,40}\d(?![\w:/-]|\.\d)")
_NOT_PHONE = re.compile(r"\d{4}-\d{2}-\d{2}.*|\d{1,3}(?:\.\d{1,3}){3}|\d+(?:\.\d+)?")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


def _phone(match: re.Match) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if not 7 <= digits <= 15 or _NOT_PHONE.fullmatch(text.strip()):
        return text
    return "[phone]"


def redact_pii(text: str) -> str:
    return PHONE.sub(_phone, EMAIL.sub("[email]", text))


class RedactPIIFilter(logging.Filter):
    """Replaces e-mail addresses and phone numbers in the message, the traceback and any extra
    string field of a record with [email] / [phone] (LOG_REDACT_PII=true). Timestamps, levels and
    request ids are added later by the formatter and are never touched."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_pii(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_pii(record.exc_text)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact_pii(value))
        return True
