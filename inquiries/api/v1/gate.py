"""The webhook's gate: everything POST /api/v1/webhook checks before django-ninja parses the
body (an auth callable runs first), in the order that protects the database best:
size and type → per-IP limit → API key and its intake scope → signature (raw body) → per-key limit
→ JSON.
Each refusal is a typed error (inquiries/errors.py); its status and headers are listed in
docs/api.md."""

import json
import logging

from django.conf import settings
from ninja.security import APIKeyHeader

from core.client_ip import client_ip
from inquiries.errors import (
    Forbidden,
    InvalidJson,
    InvalidRequest,
    InvalidSignature,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from inquiries.models import ApiScope
from inquiries.services import Caller

from . import ratelimit
from .auth import ANONYMOUS, anonymous_caller, auth_required, identify
from .signatures import SignatureError, signing_secrets, verify_signature

logger = logging.getLogger("autoflow.auth")


class IntakeGate(APIKeyHeader):
    """POST /api/v1/webhook: everything that must happen before the body is parsed."""

    param_name = "X-API-Key"

    def authenticate(self, request, key: str | None) -> Caller:
        self._check_shape(request)
        ratelimit.enforce(request, counter="intake-ip", per=client_ip(request))
        caller = identify(key, ip=client_ip(request))
        if caller is None:
            if key or auth_required():
                raise Unauthorized()
            caller = anonymous_caller(request)
        if not caller.may(ApiScope.INTAKE):
            raise Forbidden("This key may not submit inquiries (it lacks the intake scope).")
        secrets = signing_secrets()
        request.webhook_id = None
        if secrets:
            try:
                request.webhook_id = verify_signature(
                    secrets=secrets, body=request.body, msg_id=request.headers.get("webhook-id"),
                    timestamp=request.headers.get("webhook-timestamp"),
                    signature=request.headers.get("webhook-signature"),
                )
            except SignatureError as exc:
                logger.warning("webhook signature refused: %s", exc)
                raise InvalidSignature() from None
        if caller.identity != ANONYMOUS:
            ratelimit.enforce(request, counter="intake-key", per=caller.identity, rate=caller.rate_limit or None)
        request.parsed_json = self._parse(request)
        return caller

    @staticmethod
    def _check_shape(request) -> None:
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise PayloadTooLarge(limit=limit)
        content_type = request.content_type or ""
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise UnsupportedMediaType()
        if len(request.body) > limit:
            raise PayloadTooLarge(limit=limit)

    @staticmethod
    def _parse(request) -> dict:
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidJson() from None
        except RecursionError:  # thousands of nested brackets fit in a small body
            raise InvalidJson("The body is nested too deeply.") from None
        if not isinstance(data, dict):
            raise InvalidRequest("The body must be a JSON object.",
                                 details=[{"loc": ["body"], "msg": "expected an object", "type": "object_type"}])
        return data
