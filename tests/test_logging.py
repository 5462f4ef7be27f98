"""Log lines are UTC and carry the request id; JSON in production."""

import contextlib
import json
import logging

import pytest

from core.logging import JSONFormatter, RequestIDFilter, UTCFormatter
from core.request_id import clear_request_id, set_request_id


def _record(message: str = "hello") -> logging.LogRecord:
    record = logging.LogRecord("autoflow.test", logging.INFO, __file__, 1, message, None, None)
    RequestIDFilter().filter(record)
    return record


def test_text_lines_are_utc_and_carry_the_request_id():
    set_request_id("req-123")
    try:
        line = UTCFormatter("%(asctime)s %(levelname)s [%(request_id)s] %(message)s").format(_record())
    finally:
        clear_request_id()
    timestamp, level, request_id, message = line.split(" ", 3)
    assert timestamp.endswith("Z")
    assert "T" in timestamp
    assert (level, request_id, message) == ("INFO", "[req-123]", "hello")


def test_lines_outside_a_request_say_so():
    assert _record().request_id == "-"


def test_json_lines_parse_and_name_their_fields():
    set_request_id("req-json")
    try:
        line = JSONFormatter("%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s").format(_record("hi"))
    finally:
        clear_request_id()
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


# --- LOG_REDACT_PII ---------------------------------------------------------------------------------

def test_redaction_replaces_e_mail_addresses_and_phone_numbers_only():
    from core.logging import redact_pii

    assert redact_pii("from dana.lee+crm@example.co.uk, call +1 (415) 555-0100 or 020 7946 0958") == (
        "from [email], call [phone] or [phone]")
    kept = ("at 2026-11-24 12:00:01.123 run 1b4e28ba-2fa1-11d2-883f-0016d3cca427 from 192.168.100.200:5432 "
            "took 1234.5 ms, attempt 3 of 3")
    assert redact_pii(kept) == kept


def test_the_filter_redacts_message_arguments_tracebacks_and_extra_fields():
    from core.logging import RedactPIIFilter

    try:
        raise ValueError("bad address dana@example.com")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("autoflow.test", logging.ERROR, __file__, 1, "inquiry from %s (%s)",
                               ("dana@example.com", "+44 20 7946 0958"), exc_info)
    record.sender = "dana@example.com"
    RedactPIIFilter().filter(record)
    RequestIDFilter().filter(record)
    line = UTCFormatter("%(levelname)s %(message)s").format(record)
    assert "dana@example.com" not in line
    assert "7946" not in line
    assert line.startswith("ERROR inquiry from [email] ([phone])")
    assert "ValueError: bad address [email]" in line
    assert record.sender == "[email]"
    entry = json.loads(JSONFormatter("%(levelname)s %(message)s %(sender)s").format(record))
    assert entry["sender"] == "[email]"


@pytest.mark.parametrize(("flag", "redacted"), [("true", True), ("false", False)])
def test_log_redact_pii_switches_the_filter_on_for_every_line(flag, redacted):
    import subprocess
    import sys

    from scripts.common import REPO

    code = ("import logging, django; django.setup(); "
            "logging.getLogger('autoflow.test').warning('inquiry from dana@example.com, +1 415 555 0100')")
    env = {**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "autoflow.settings", "LOG_REDACT_PII": flag,
           "LOG_FORMAT": "text"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         check=True).stderr
    assert ("inquiry from [email], [phone]" in out) is redacted
    assert ("dana@example.com" in out) is not redacted
