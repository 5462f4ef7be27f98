"""Log formatting: UTC ISO 8601 timestamps and the current request id on every line."""

import logging
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from .request_id import get_request_id


class RequestIDFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = get_request_id() or "-"
        return True


class _UTCTime:
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UTCFormatter(_UTCTime, logging.Formatter):
    pass


class JSONFormatter(_UTCTime, _JsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "timestamp", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)
