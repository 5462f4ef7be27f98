"""Who may call what (DESIGN §3). Auth callables run before django-ninja parses the body, so the
webhook's whole gate lives here, in the order that protects the database best:
size and type → per-IP limit → API key → signature (raw body) → per-key limit."""

import hmac
import json
import logging
import threading
import time

from django.conf import settings
from django.utils import timezone
from ninja.security import APIKeyHeader, SessionAuthIsStaff

from autoflow.client_ip import client_ip
from inquiries import ratelimit
from inquiries.errors import ApiError, ErrorCode
from inquiries.models import ApiClient
from inquiries.services import Caller
from inquiries.signatures import SignatureError, signing_secrets, verify_signature

logger = logging.getLogger("autoflow.auth")

BOOTSTRAP_SCOPE = "key:bootstrap"
ANONYMOUS_SCOPE = "anonymous"
_CLIENT_CACHE_SECONDS = 10.0
_client_cache: dict[str, tuple[float, ApiClient | None]] = {}
_client_lock = threading.Lock()


def _client_for(raw_key: str) -> ApiClient | None:
    """The active API client with this key. Cached for a few seconds in the process (revoking a
    key takes effect within that time); `last_used_at` is written at most once a minute."""
    digest = ApiClient.hash_key(raw_key)
    now = time.monotonic()
    with _client_lock:
        cached = _client_cache.get(digest)
    if cached and now - cached[0] < _CLIENT_CACHE_SECONDS:
        return cached[1]
    client = ApiClient.objects.filter(key_hash=digest, is_active=True).first()
    if client and (client.last_used_at is None or (timezone.now() - client.last_used_at).total_seconds() > 60):
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=timezone.now())
    with _client_lock:
        if len(_client_cache) > 10_000:
            _client_cache.clear()
        _client_cache[digest] = (now, client)
    return client


def forget_cached_clients() -> None:
    with _client_lock:
        _client_cache.clear()


def identify(raw_key: str | None, *, ip: str = "") -> Caller | None:
    """The caller a key names: the bootstrap key, an active API client, or nobody (None)."""
    if not raw_key:
        return None
    if settings.WEBHOOK_API_KEY and hmac.compare_digest(raw_key.encode(), settings.WEBHOOK_API_KEY.encode()):
        return Caller(scope=BOOTSTRAP_SCOPE, label="api:bootstrap-key", ip=ip)
    if raw_key.startswith(ApiClient.KEY_PREFIX):
        client = _client_for(raw_key)
        if client is not None:
            return Caller(scope=f"client:{client.pk}", label=f"api:{client.name}", ip=ip,
                          api_client_id=client.pk, rate_limit=client.rate_limit)
    return None


def _anonymous(request) -> Caller:
    return Caller(scope=ANONYMOUS_SCOPE, label="api:anonymous", ip=client_ip(request))


def _unauthorized(message: str = "A valid X-API-Key header is required.") -> ApiError:
    return ApiError(401, ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'})


class IntakeGate(APIKeyHeader):
    """POST /api/v1/webhook: everything that must happen before the body is parsed."""

    param_name = "X-API-Key"

    def authenticate(self, request, key: str | None) -> Caller:
        self._check_shape(request)
        ratelimit.enforce(request, group="intake-ip", value=client_ip(request))
        caller = identify(key, ip=client_ip(request))
        if caller is None:
            if settings.WEBHOOK_API_KEY:
                raise _unauthorized()
            caller = _anonymous(request)
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
                raise ApiError(401, ErrorCode.INVALID_SIGNATURE, "The webhook signature is missing or invalid.") from None
        if caller.scope != ANONYMOUS_SCOPE:
            ratelimit.enforce(request, group="intake-key", value=caller.scope, rate=caller.rate_limit or None)
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
            raise ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, f"The body is larger than {limit} bytes.")
        content_type = request.content_type or ""
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise ApiError(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the inquiry as application/json.")
        if len(request.body) > limit:
            raise ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, f"The body is larger than {limit} bytes.")

    @staticmethod
    def _parse(request) -> dict:
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(422, ErrorCode.INVALID_JSON, "The body is not valid JSON.") from None
        except RecursionError:  # thousands of nested brackets fit in a small body
            raise ApiError(422, ErrorCode.INVALID_JSON, "The body is nested too deeply.") from None
        if not isinstance(data, dict):
            raise ApiError(422, ErrorCode.VALIDATION_ERROR, "The body must be a JSON object.",
                           details=[{"loc": ["body"], "msg": "expected an object", "type": "object_type"}])
        return data


class ReadKey(APIKeyHeader):
    """Read endpoints: the webhook key or an API client's key; open when no key is configured."""

    param_name = "X-API-Key"

    def authenticate(self, request, key: str | None) -> Caller | None:
        caller = identify(key, ip=client_ip(request))
        if caller is None and not settings.WEBHOOK_API_KEY:
            return _anonymous(request)
        return caller


class StaffSession(SessionAuthIsStaff):
    """A signed-in staff user (the console and the interactive docs)."""


class AdminKey(APIKeyHeader):
    """Destructive endpoints: X-Admin-Key when AUTOFLOW_ADMIN_API_KEY is set."""

    param_name = "X-Admin-Key"

    def authenticate(self, request, key: str | None) -> Caller:
        expected = settings.AUTOFLOW_ADMIN_API_KEY
        if not expected:
            return _anonymous(request)
        if key and hmac.compare_digest(key.encode(), expected.encode()):
            return Caller(scope="admin", label="api:admin-key", ip=client_ip(request))
        raise ApiError(401, ErrorCode.UNAUTHORIZED, "A valid X-Admin-Key header is required.",
                       headers={"WWW-Authenticate": 'ApiKey header="X-Admin-Key"'})
