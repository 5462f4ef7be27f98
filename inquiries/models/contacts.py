"""The CRM: a sender's contact, and the lead scores kept on it."""


from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from ._base import TimeStampedModel, in_choices
from .choices import Intent, LeadTier


class Contact(TimeStampedModel):
    """The CRM's view of a sender: one row per e-mail address (stored lower-cased)."""

    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=200, blank=True)
    company = models.CharField(max_length=200, blank=True)
    inquiry_count = models.PositiveIntegerField(default=0)
    last_intent = models.CharField(max_length=32, choices=Intent.choices, blank=True)
    last_inquiry_at = models.DateTimeField(null=True, blank=True)
    lead_score = models.PositiveSmallIntegerField(null=True, blank=True)
    lead_tier = models.CharField(max_length=8, choices=LeadTier.choices, blank=True)

    class Meta:
        ordering = ["email"]
        permissions = [("export_contact", "Can export everything held about a contact"),
                       ("erase_contact", "Can erase a contact everywhere")]
        constraints = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="contact_email_lowercase"),
            models.CheckConstraint(condition=in_choices("last_intent", Intent, blank=True),
                                   name="contact_last_intent_valid"),
            models.CheckConstraint(condition=in_choices("lead_tier", LeadTier, blank=True),
                                   name="contact_lead_tier_valid"),
            models.CheckConstraint(condition=Q(lead_score__isnull=True) | Q(lead_score__lte=100),
                                   name="contact_lead_score_range"),
        ]

    def __str__(self) -> str:
        return self.email


class LeadScoreEntry(models.Model):
    """One lead score given to a contact, with the explicit signals behind it."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="lead_scores")
    run = models.ForeignKey("inquiries.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    score = models.PositiveSmallIntegerField()
    tier = models.CharField(max_length=8, choices=LeadTier.choices)
    signals = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "lead score entries"
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=100), name="leadscore_score_range"),
            models.CheckConstraint(condition=in_choices("tier", LeadTier), name="leadscore_tier_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} {self.score} ({self.tier})"
