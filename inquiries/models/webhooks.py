"""Outbound webhooks: what an API client subscribed to, and each delivery of an event to it with
its attempts (docs/webhooks.md). A delivery row is inserted in the transaction of the change that
causes it (inquiries/services/webhooks.py); the sender (inquiries/webhook_sender.py) delivers it."""

import secrets

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ._base import TimeStampedModel, in_choices
from .intake import ApiClient
from .runs import Run

SECRET_PREFIX = "whsec_"
EXCERPT_CHARS = 1000


class WebhookEvent(models.TextChoices):
    RUN_COMPLETED = "run.completed", "Run completed"
    RUN_ESCALATED = "run.escalated", "Run escalated"
    RUN_ERROR = "run.error", "Run failed"
    ESCALATION_RESOLVED = "escalation.resolved", "Escalation resolved"
    REPLY_SENT = "reply.sent", "Reply sent"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERING = "delivering", "Delivering"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed for now; retried"
    DEAD = "dead", "Given up"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes."""
    import base64

    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookSubscription(TimeStampedModel):
    """An API client's endpoint and the events it receives, signed with `secret` (and, during a
    rotation, `previous_secret` too until `previous_secret_expires_at`)."""

    api_client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    url = models.URLField(max_length=2000, help_text="https://… (private addresses are refused unless "
                                                     "OUTBOUND_WEBHOOK_ALLOW_PRIVATE=true).")
    events = ArrayField(models.CharField(max_length=32, choices=WebhookEvent.choices),
                        help_text="run.completed, run.escalated, run.error, escalation.resolved, reply.sent")
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    # The circuit (inquiries/webhook_sender.py): consecutive failed attempts, and no attempt before.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    circuit_open_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["api_client", "url"]
        verbose_name = "webhook subscription"
        indexes = [models.Index(fields=["api_client"], condition=Q(is_active=True), name="webhooksub_active_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(events__contained_by=WebhookEvent.values) & ~Q(events=[]),
                                   name="webhooksubscription_events_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.api_client.name} → {self.url}"

    def signing_secrets(self, *, now=None) -> list[str]:
        now = now or timezone.now()
        previous = self.previous_secret and (self.previous_secret_expires_at is None
                                             or self.previous_secret_expires_at > now)
        return [self.secret, self.previous_secret] if previous else [self.secret]

    @property
    def masked_secret(self) -> str:
        return f"{SECRET_PREFIX}…{self.secret[-4:]}" if self.secret else ""


class WebhookDelivery(models.Model):
    """One event for one subscription: delivered at least once, identified by `webhook_id`."""

    Status = DeliveryStatus

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="webhook_deliveries")
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    webhook_id = models.CharField(max_length=64, unique=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_response_excerpt = models.CharField(max_length=EXCERPT_CHARS, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status__in=["pending", "delivering", "failed"]),
                         name="webhookdelivery_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=in_choices("status", DeliveryStatus), name="webhookdelivery_status_valid"),
            models.CheckConstraint(condition=in_choices("event", WebhookEvent), name="webhookdelivery_event_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.webhook_id}"


class WebhookAttempt(models.Model):
    """One try of a delivery: what the receiver answered, or why there was no answer."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=EXCERPT_CHARS, blank=True)
    error = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    redelivery = models.BooleanField(default=False, help_text="Asked for by an operator.")

    class Meta:
        ordering = ["delivery", "number"]
        verbose_name = "webhook attempt"

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error[:40]}"
