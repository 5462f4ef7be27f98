"""Who may call what: the callers a key names, their scopes, and the auth of the read and delete
routes. The webhook's own checks are its gate (gate.py); the WebSocket's are in consumers.py.

Scopes (docs/api.md, "Keys and scopes"): an API client has the scopes the admin gave it (new
clients: intake + read_own); the bootstrap WEBHOOK_API_KEY has every scope but delete; the
AUTOFLOW_ADMIN_API_KEY has delete; a staff session reads everything. Authentication is enforced as
soon as any key or API client exists (`auth_required`); before that, on a fresh development
install, the anonymous caller may do everything."""

import hmac
import threading
import time

from django.conf import settings
from django.utils import timezone
from ninja.security import APIKeyHeader, SessionAuthIsStaff

from core.client_ip import client_ip
from inquiries.errors import Forbidden, Unauthorized
from inquiries.models import ApiClient, ApiScope
from inquiries.services import Caller

from . import ratelimit

# Caller identities (their idempotency keys and per-key limits are their own).
BOOTSTRAP = "key:bootstrap"
ANONYMOUS = "anonymous"
ADMIN = "admin"
ALL_SCOPES = frozenset(ApiScope.values)
BOOTSTRAP_SCOPES = ALL_SCOPES - {ApiScope.DELETE}
ADMIN_SCOPES = frozenset({ApiScope.DELETE})
READ_SCOPES = frozenset({ApiScope.READ_OWN, ApiScope.READ_ALL})

_CLIENT_CACHE_SECONDS = 10.0
_client_cache: dict[str, tuple[float, ApiClient | None]] = {}
_client_lock = threading.Lock()
# Whether any API client exists: once one does, it stays so for this process (fail closed);
# "none yet" is asked again after a few seconds.
_clients_exist: list[float | bool] = [False, 0.0]


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
        _clients_exist[:] = [False, 0.0]


def auth_required() -> bool:
    """True as soon as a key is configured or any API client exists (revoked ones included):
    from then on the anonymous caller may do nothing."""
    if settings.WEBHOOK_API_KEY or settings.AUTOFLOW_ADMIN_API_KEY:
        return True
    with _client_lock:
        known, checked_at = _clients_exist
    if known is True:
        return True
    if time.monotonic() - checked_at < _CLIENT_CACHE_SECONDS / 2:
        return False
    exists = ApiClient.objects.exists()
    with _client_lock:
        _clients_exist[:] = [exists, time.monotonic()]
    return exists


def identify(raw_key: str | None, *, ip: str = "") -> Caller | None:
    """The caller a key names: the bootstrap key, an active API client, or nobody (None)."""
    if not raw_key:
        return None
    if settings.WEBHOOK_API_KEY and hmac.compare_digest(raw_key.encode(), settings.WEBHOOK_API_KEY.encode()):
        return Caller(identity=BOOTSTRAP, label="api:bootstrap-key", ip=ip, scopes=BOOTSTRAP_SCOPES)
    if raw_key.startswith(ApiClient.KEY_PREFIX):
        client = _client_for(raw_key)
        if client is not None:
            return client_caller(client, ip=ip)
    return None


def client_caller(client: ApiClient, *, ip: str = "") -> Caller:
    return Caller(identity=f"client:{client.pk}", label=f"api:{client.name}", ip=ip, api_client_id=client.pk,
                  rate_limit=client.rate_limit, scopes=frozenset(client.scopes))


def anonymous_caller(request) -> Caller:
    """The caller without a key, while no key or client exists (a fresh development install)."""
    return Caller(identity=ANONYMOUS, label="api:anonymous", ip=client_ip(request), scopes=ALL_SCOPES)


def _count_read(request, caller: Caller) -> Caller:
    ratelimit.enforce(request, counter="read", per=caller.identity, rate=settings.READ_RATE_LIMIT)
    return caller


class ReadKey(APIKeyHeader):
    """Read routes: a key with read_own or read_all (a key without them is 403, whatever the run);
    the anonymous caller until auth is required. Counted on READ_RATE_LIMIT per caller."""

    param_name = "X-API-Key"

    def authenticate(self, request, key: str | None) -> Caller | None:
        caller = identify(key, ip=client_ip(request))
        if caller is None:
            if key or auth_required():
                return None  # a staff session may still be signed in (StaffSession, next)
            caller = anonymous_caller(request)
        if not caller.scopes & READ_SCOPES:
            raise Forbidden("This key may submit inquiries but not read runs (it lacks read_own and read_all).")
        return _count_read(request, caller)


class StaffSession(SessionAuthIsStaff):
    """A signed-in staff user (the console and the interactive docs): reads everything."""

    def authenticate(self, request, key: str | None) -> Caller | None:
        user = super().authenticate(request, key)
        if not user:
            return None
        caller = Caller(identity=f"user:{user.pk}", label=f"user:{user.get_username()}", ip=client_ip(request),
                        scopes=frozenset({ApiScope.READ_ALL}))
        return _count_read(request, caller)


class AdminKey(APIKeyHeader):
    """Delete: X-Admin-Key (AUTOFLOW_ADMIN_API_KEY) for any run. A wrong admin key is refused at
    once; without one, DeleteKey (next) looks at X-API-Key."""

    param_name = "X-Admin-Key"

    def authenticate(self, request, key: str | None) -> Caller | None:
        expected = settings.AUTOFLOW_ADMIN_API_KEY
        if not key:
            return None
        if expected and hmac.compare_digest(key.encode(), expected.encode()):
            return Caller(identity=ADMIN, label="api:admin-key", ip=client_ip(request), scopes=ADMIN_SCOPES)
        raise Unauthorized("A valid X-Admin-Key header is required.", key_header="X-Admin-Key")


class DeleteKey(APIKeyHeader):
    """Delete with X-API-Key: an API client with the delete scope, on the runs it may read."""

    param_name = "X-API-Key"

    def authenticate(self, request, key: str | None) -> Caller:
        caller = identify(key, ip=client_ip(request))
        if caller is None and not key and not auth_required():
            return anonymous_caller(request)
        if caller is None:
            raise Unauthorized("A valid X-Admin-Key header (or an API key with the delete scope) is required.",
                               key_header="X-Admin-Key")
        if not caller.may(ApiScope.DELETE):
            raise Forbidden("This key may not delete runs (it lacks the delete scope).")
        return caller
