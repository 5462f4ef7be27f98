"""Standard Webhooks signatures (https://www.standardwebhooks.com): verified on the raw body,
before anything parses it, against one or two secrets (two during a rotation)."""

import base64
import binascii
import hmac
import time
from datetime import UTC, datetime

from django.conf import settings
from standardwebhooks.webhooks import Webhook

TOLERANCE_SECONDS = 5 * 60
MAX_ID_LENGTH = 255


class SignatureError(Exception):
    """Why a signature was refused (logged; the client gets a generic 401)."""


def signing_secrets() -> list[str]:
    raw = settings.WEBHOOK_SIGNING_SECRET
    return [part for part in raw.replace(",", " ").split() if part]


def verify_signature(*, secrets: list[str], body: bytes, msg_id: str | None, timestamp: str | None,
                     signature: str | None, now: float | None = None) -> str:
    """Return the verified `webhook-id`, or raise SignatureError."""
    if not (msg_id and timestamp and signature):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if len(msg_id) > MAX_ID_LENGTH or "." in msg_id:
        raise SignatureError("webhook-id longer than 255 characters or containing '.'")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    now = time.time() if now is None else now
    if abs(now - sent_at) > TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp outside the 5 minute tolerance")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8") from None
    offered = []
    for entry in signature.split():
        version, _, value = entry.partition(",")
        if version != "v1":
            continue  # unknown versions are ignored, as the specification says
        try:
            offered.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    moment = datetime.fromtimestamp(sent_at, tz=UTC)
    for secret in secrets:
        try:
            expected = base64.b64decode(Webhook(secret).sign(msg_id, moment, text).split(",", 1)[1])
        except (binascii.Error, ValueError) as exc:
            raise SignatureError(f"WEBHOOK_SIGNING_SECRET is not a valid secret: {type(exc).__name__}") from None
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return msg_id
    raise SignatureError("no matching v1 signature")
