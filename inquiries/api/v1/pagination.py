"""Keyset (cursor) pagination of GET /api/v1/runs. The list is ordered by (created_at, id), newest
first; a cursor names the last row of a page, so the next page is an index range scan however
deep it is (an offset makes PostgreSQL read and drop every row before it, hence its cap).

The cursor is opaque to callers: base64url of `<created_at ISO>|<run id>`. A malformed one is a
422, never a 500."""

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated

from django.db.models import Q, QuerySet
from pydantic import WithJsonSchema

from inquiries.errors import InvalidRequest

# The OpenAPI `format` of the cursor parameter: only a cursor this API gave out is valid.
CURSOR_FORMAT = "autoflow-cursor"
Cursor = Annotated[str, WithJsonSchema({"type": "string", "format": CURSOR_FORMAT, "maxLength": 200})]


def encode(created_at: datetime, run_id) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{run_id}".encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, run_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(moment)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        return created_at, uuid.UUID(run_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("The cursor is not one this API gave out.",
                             details=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}]
                             ) from None


def after(runs: QuerySet, cursor: str) -> QuerySet:
    """The rows after the cursor's row, in the list's order (newest first)."""
    created_at, run_id = decode(cursor)
    return runs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=run_id))
