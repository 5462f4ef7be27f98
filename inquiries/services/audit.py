"""The audit log (inquiries/models/audit.py): one entry per audited act, written in the
transaction of the act itself, and a line on the `autoflow.audit` logger."""

import ipaddress
import logging
from typing import Any

from core.request_id import get_request_id
from inquiries.models import AuditAction, AuditEntry

logger = logging.getLogger("autoflow.audit")


def _address(ip: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((ip or "").strip()))
    except ValueError:
        return None


def actor_label_of(actor) -> str:
    return f"user:{actor.get_username()}" if actor is not None and actor.is_authenticated else ""


def audit_record(*, action: AuditAction, target: str = "", actor=None, actor_label: str = "", ip: str = "",
                 detail: dict[str, Any] | None = None, level: int = logging.INFO) -> AuditEntry:
    """Write one audit entry. `actor`: the signed-in user, if any (kept as `actor_label` too);
    `actor_label` for others ("api:admin-key"); `detail`: facts only, no personal data."""
    user = actor if actor is not None and actor.is_authenticated else None
    label = (actor_label or actor_label_of(user))[:200]
    entry = AuditEntry.objects.create(action=action, target=str(target)[:200], actor=user, actor_label=label,
                                      ip=_address(ip), detail=detail or {}, request_id=get_request_id() or "")
    logger.log(level, "audit: %s %s by %s from %s", action, entry.target, label or "-", entry.ip or "-")
    return entry
