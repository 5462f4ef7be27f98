"""What callers send: the API clients, the inquiries, and the idempotency claims of their requests."""

import hashlib

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ._base import TimeStampedModel, in_choices
from .choices import (
    ApiScope,
    InquirySource,
)
from .contacts import Contact


def default_scopes() -> list[str]:
    """What a new client may do: submit inquiries and read the runs it submitted."""
    return [ApiScope.INTAKE.value, ApiScope.READ_OWN.value]


class ApiClient(TimeStampedModel):
    """A caller of the webhook API, known by a secret key of which only a hash is stored."""

    KEY_PREFIX = "af_"

    name = models.CharField(max_length=100, unique=True)
    key_prefix = models.CharField(
        max_length=16, editable=False, help_text="The key's first characters, to recognise it in logs."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(default=True, help_text="Untick to revoke the key at once.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    rate_limit = models.CharField(
        max_length=20, blank=True, help_text="Overrides WEBHOOK_RATE_LIMIT for this client, e.g. 600/m."
    )
    scopes = ArrayField(
        models.CharField(max_length=16, choices=ApiScope.choices), default=default_scopes, blank=True,
        help_text="What the key may do: intake, read_own, read_all, delete.",
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "API client"
        constraints = [
            models.CheckConstraint(condition=Q(scopes__contained_by=ApiScope.values), name="apiclient_scopes_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(raw_key: str) -> str:
        # Keys are 32+ random bytes, so a fast hash is enough and lets us look a key up by its hash.
        return hashlib.sha256(raw_key.encode()).hexdigest()


class Inquiry(models.Model):
    """What a caller sent, as received. Personal data: deleted with its last run."""

    Source = InquirySource

    sender_name = models.CharField(max_length=200)
    sender_email = models.EmailField(max_length=254, db_index=True)
    subject = models.CharField(max_length=500)
    body = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    raw_payload = models.JSONField(default=dict, blank=True, help_text="The request body as received.")
    source = models.CharField(max_length=16, choices=InquirySource.choices, default=InquirySource.API)
    api_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="inquiries", db_index=False
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="inquiries", db_index=False
    )
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "inquiries"
        # Nullable foreign keys get partial indexes: intake writes NULL there and pays nothing.
        indexes = [
            models.Index(fields=["api_client"], condition=Q(api_client__isnull=False), name="inquiry_api_client_idx"),
            models.Index(fields=["contact"], condition=Q(contact__isnull=False), name="inquiry_contact_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=in_choices("source", InquirySource),
                                   name="inquiry_source_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} <{self.sender_email}>"


class IdempotencyRecord(models.Model):
    """The durable claim of an `Idempotency-Key`, committed with its run. Redis caches it."""

    # The caller the key belongs to (`Caller.identity`); the column keeps its first name.
    caller = models.CharField(max_length=200, db_column="scope", help_text="The caller the key belongs to.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request body.")
    run = models.ForeignKey("inquiries.Run", on_delete=models.CASCADE, related_name="idempotency_records")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["caller", "key"], name="idempotency_unique_scope_key"),
        ]

    def __str__(self) -> str:
        return f"{self.caller}:{self.key}"
