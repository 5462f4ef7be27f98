"""Who may call what: the callers a key names, and the auth of the read and admin routes.
The webhook's own checks are its gate (gate.py)."""

import hmac
import threading
import time

from django.conf import settings
from django.utils import timezone
from ninja.security import APIKeyHeader, SessionAuthIsStaff

from core.client_ip import client_ip
from inquiries.errors import Unauthorized
from inquiries.models import ApiClient
from inquiries.services import Caller

# Caller identities (their idempotency keys and per-key limits are their own).
BOOTSTRAP = "key:bootstrap"
ANONYMOUS = "anonymous"
ADMIN = "admin"
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
        return Caller(identity=BOOTSTRAP, label="api:bootstrap-key", ip=ip)
    if raw_key.startswith(ApiClient.KEY_PREFIX):
        client = _client_for(raw_key)
        if client is not None:
            return Caller(identity=f"client:{client.pk}", label=f"api:{client.name}", ip=ip,
                          api_client_id=client.pk, rate_limit=client.rate_limit)
    return None


def anonymous_caller(request) -> Caller:
    return Caller(identity=ANONYMOUS, label="api:anonymous", ip=client_ip(request))


class ReadKey(APIKeyHeader):
    """Read endpoints: the webhook key or an API client's key; open when no key is configured."""

    param_name = "X-API-Key"

    def authenticate(self, request, key: str | None) -> Caller | None:
        caller = identify(key, ip=client_ip(request))
        if caller is None and not settings.WEBHOOK_API_KEY:
            return anonymous_caller(request)
        return caller


class StaffSession(SessionAuthIsStaff):
    """A signed-in staff user (the console and the interactive docs)."""


class AdminKey(APIKeyHeader):
    """Destructive endpoints: X-Admin-Key when AUTOFLOW_ADMIN_API_KEY is set."""

    param_name = "X-Admin-Key"

    def authenticate(self, request, key: str | None) -> Caller:
        expected = settings.AUTOFLOW_ADMIN_API_KEY
        if not expected:
            return anonymous_caller(request)
        if key and hmac.compare_digest(key.encode(), expected.encode()):
            return Caller(identity=ADMIN, label="api:admin-key", ip=client_ip(request))
        raise Unauthorized("A valid X-Admin-Key header is required.", key_header="X-Admin-Key")
