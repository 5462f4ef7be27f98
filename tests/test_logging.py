"""Log lines are UTC and carry the request id; JSON in production."""

import contextlib
import json
import logging

import pytest

from autoflow.logging import JSONFormatter, RequestIDFilter, UTCFormatter
from autoflow.request_id import reset_request_id, set_request_id


def _record(message: str = "hello") -> logging.LogRecord:
    record = logging.LogRecord("autoflow.test", logging.INFO, __file__, 1, message, None, None)
    RequestIDFilter().filter(record)
    return record


def test_text_lines_are_utc_and_carry_the_request_id():
    token = set_request_id("req-123")
    try:
        line = UTCFormatter("%(asctime)s %(levelname)s [%(request_id)s] %(message)s").format(_record())
    finally:
        reset_request_id(token)
    timestamp, level, request_id, message = line.split(" ", 3)
    assert timestamp.endswith("Z")
    assert "T" in timestamp
    assert (level, request_id, message) == ("INFO", "[req-123]", "hello")


def test_lines_outside_a_request_say_so():
    assert _record().request_id == "-"


def test_json_lines_parse_and_name_their_fields():
    token = set_request_id("req-json")
    try:
        line = JSONFormatter("%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s").format(_record("hi"))
    finally:
        reset_request_id(token)
    entry = json.loads(line)
    assert entry["request_id"] == "req-json"
    assert entry["message"] == "hi"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "autoflow.test"
    assert entry["timestamp"].endswith("Z")


@contextlib.contextmanager
def _records_of(logger_name: str, caplog, level: int):
    """Capture a logger's records with the request id stamped at log time, as the handler does."""
    logger = logging.getLogger(logger_name)
    stamp = RequestIDFilter()
    logger.addFilter(stamp)
    try:
        with caplog.at_level(level, logger=logger_name):
            yield lambda: [r for r in caplog.records if r.name == logger_name]
    finally:
        logger.removeFilter(stamp)


@pytest.mark.django_db
def test_a_request_logs_with_its_id(client, caplog, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("autoflow.views.health_report", explode)
    client.raise_request_exception = False
    with _records_of("autoflow.request", caplog, logging.ERROR) as records:
        client.get("/health", HTTP_X_REQUEST_ID="trace-log")
        lines = records()
    assert [r.request_id for r in lines] == ["trace-log"]
    assert "GET /health -> 500" in lines[0].getMessage()


@pytest.mark.django_db
def test_every_request_writes_an_access_line_with_its_id(client, caplog):
    with _records_of("autoflow.access", caplog, logging.INFO) as records:
        client.get("/health/live", HTTP_X_REQUEST_ID="trace-access")
        (line,) = records()
    assert line.request_id == "trace-access"
    assert (line.method, line.path, line.status) == ("GET", "/health/live", 200)
    assert line.duration_ms >= 0
    assert line.getMessage().startswith("GET /health/live 200 ")
