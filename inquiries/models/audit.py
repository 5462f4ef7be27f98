"""The audit log: what was done that a run's own events cannot tell, because the run is gone
(deleted, with its events) or there is no run (a sign-in locked out).

Append-only like RunEvent: written by `inquiries.services.audit`, never updated (a database
trigger refuses it, migration 0008), read-only in the admin. It points at what it records by
text (`target`), never by foreign key, so that it survives the deletion it records. `detail`
holds facts, never personal data (no names, addresses or message text)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ._base import in_choices
from .choices import AuditAction


class AuditEntry(models.Model):
    Action = AuditAction

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    actor_label = models.CharField(
        max_length=200, blank=True, help_text='Who acted ("user:alice", "api:admin-key"), kept if the user is deleted.'
    )
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    target = models.CharField(max_length=200, blank=True, help_text="What it was done to: a run id, a username.")
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name="IP address")
    request_id = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["created_at"], name="auditentry_created_idx"),
            models.Index(fields=["action", "created_at"], name="auditentry_action_created_idx"),
            models.Index(fields=["target"], name="auditentry_target_idx"),
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="auditentry_actor_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=in_choices("action", AuditAction), name="auditentry_action_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.target} ({self.created_at:%Y-%m-%d %H:%M:%S})"
