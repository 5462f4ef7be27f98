"""CSV cells that a spreadsheet will not run: text from inquiries is untrusted (CSV injection)."""

import json
from datetime import datetime

from .timestamps import utc_iso

# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """The value as a CSV cell: JSON for dicts and lists, ISO 8601 UTC for datetimes, and a
    leading apostrophe before anything a spreadsheet would read as a formula."""
    text = "" if value is None else str(value)
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, datetime):
        text = utc_iso(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text
