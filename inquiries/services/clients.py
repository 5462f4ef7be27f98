"""API clients: the keys integrators call the API with."""

import secrets

from django.db import transaction
from django.utils import timezone

from inquiries.models import ApiClient
from inquiries.models.intake import default_scopes


def api_client_create(*, name: str, created_by=None, rate_limit: str = "", notes: str = "",
                      scopes: list[str] | None = None) -> tuple[ApiClient, str]:
    """Create a client and return it with its key. The key is shown once; only its hash is kept.
    Without `scopes` the client may submit inquiries and read the runs it submitted."""
    raw_key = ApiClient.KEY_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(
        name=name,
        key_prefix=raw_key[:10],
        key_hash=ApiClient.hash_key(raw_key),
        rate_limit=rate_limit,
        notes=notes,
        created_by=created_by,
        scopes=default_scopes() if scopes is None else sorted(set(scopes)),
    )
    client.full_clean()
    client.save()
    return client, raw_key


@transaction.atomic
def api_client_set_active(*, client: ApiClient, active: bool) -> ApiClient:
    client.is_active = active
    client.revoked_at = None if active else timezone.now()
    client.save(update_fields=["is_active", "revoked_at", "updated_at"])
    return client
