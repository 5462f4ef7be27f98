"""The one way a moment is written for people and programs: ISO 8601 in UTC with `Z`."""

from datetime import UTC, datetime


def utc_iso(moment: datetime | None, *, timespec: str = "microseconds") -> str:
    """`2026-12-01T17:21:33.123456Z`; "" for no moment. Microseconds by default, so that two
    polls of the same record give the same text; logs and /health use milliseconds."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
