"""Standard Webhooks signatures, as a sender computes them (for tests of signed intake)."""

import base64
import hashlib
import hmac
import time
import uuid


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(body: bytes, *, secret: str, msg_id: str | None = None, at: int | None = None) -> dict:
    """The three headers of a signed request (`webhook-id`, `-timestamp`, `-signature`)."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = int(time.time()) if at is None else at
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": sign(secret, msg_id, at, body)}
