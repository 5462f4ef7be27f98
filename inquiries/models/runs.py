"""A run of the workflow, its steps, its audit events and the e-mail it sends."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Lower
from django.utils import timezone

from ._base import in_choices
from .choices import (
    ConfidenceBand,
    EmailKind,
    EmailStatus,
    Intent,
    LeadTier,
    LLMBackend,
    RunEventType,
    RunStatus,
    Sentiment,
    Severity,
)
from .intake import Inquiry


class Run(models.Model):
    """One execution of the workflow over an inquiry; its id is the public `run_id`."""

    Status = RunStatus
    TERMINAL_STATUSES = (RunStatus.COMPLETED, RunStatus.ESCALATED, RunStatus.ERROR)
    # The run event that records each end; a live event's type is the status itself (docs/api.md).
    TERMINAL_EVENT_TYPES = {RunStatus.COMPLETED: RunEventType.COMPLETED, RunStatus.ESCALATED: RunEventType.ESCALATED,
                            RunStatus.ERROR: RunEventType.FAILED}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, verbose_name="run id")
    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="runs")
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays", db_index=False
    )
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    current_agent = models.CharField(max_length=64, default="queued")
    # Outcome of the workflow.
    intent = models.CharField(max_length=32, choices=Intent.choices, blank=True)
    intent_confidence = models.FloatField(null=True, blank=True)
    confidence_band = models.CharField(max_length=8, choices=ConfidenceBand.choices, blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, blank=True)
    # What the triage read in the inquiry (orchestration/analysis/): ISO 639-1 code or "".
    language = models.CharField(max_length=8, blank=True)
    language_confidence = models.FloatField(null=True, blank=True)
    sentiment = models.CharField(max_length=16, choices=Sentiment.choices, blank=True)
    # {order_numbers, amounts, seats, products, urls, emails} (orchestration/analysis/entities.py).
    entities = models.JSONField(default=dict, db_default=Value({}, output_field=models.JSONField()), blank=True)
    # The knowledge-base passages the reply used: [{slug, title, passage}].
    citations = models.JSONField(default=list, db_default=Value([], output_field=models.JSONField()), blank=True)
    lead_score = models.PositiveSmallIntegerField(null=True, blank=True)
    lead_tier = models.CharField(max_length=8, choices=LeadTier.choices, blank=True)
    escalate = models.BooleanField(default=False)
    escalation_reason = models.TextField(blank=True)
    # The rules that fired, as {rule, detail} (orchestration/policy.py); escalation_reason is their
    # text, "rule: detail; rule: detail".
    escalation_reasons = models.JSONField(default=list, db_default=Value([], output_field=models.JSONField()), blank=True)
    handoff_summary = models.TextField(blank=True, help_text="Operator-ready summary of an escalation.")
    draft_response = models.TextField(blank=True)
    final_response = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    # What produced it.
    llm_backend = models.CharField("LLM backend", max_length=16, choices=LLMBackend.choices, blank=True)
    llm_model = models.CharField("LLM model", max_length=200, blank=True)
    llm_model_digest = models.CharField("LLM model digest", max_length=100, blank=True)
    llm_server_version = models.CharField("LLM server version", max_length=50, blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    workflow_version = models.CharField(max_length=50, blank=True)
    # The webhook request's W3C trace context ({traceparent, tracestate}), so that the worker's
    # spans of this run continue its trace across the queue (core/tracing.py); {} when tracing is off.
    trace_context = models.JSONField(default=dict, db_default=Value({}, output_field=models.JSONField()),
                                     blank=True, editable=False)
    # Execution bookkeeping: attempts and the worker lease (see orchestration).
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    q_task_id = models.CharField(max_length=64, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Operator triage.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_runs",
        db_index=False,
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    resolution_note = models.TextField(blank=True)
    # A sender over ESCALATIONS_PER_SENDER_OPEN open escalations: this run joins their oldest one
    # (counted there, resolved with it) instead of taking a place of its own in the queue.
    joined_escalation = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="joined_runs", db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["-created_at"], name="run_created_idx"),
            models.Index(fields=["status", "-created_at"], name="run_status_created_idx"),
            models.Index(fields=["intent", "-created_at"], name="run_intent_created_idx"),
            models.Index(fields=["confidence_band", "-created_at"], name="run_band_created_idx"),
            models.Index(fields=["language", "-created_at"], name="run_language_created_idx"),
            models.Index(fields=["-created_at"], condition=Q(escalate=True), name="run_escalated_idx"),
            models.Index(fields=["joined_escalation"], condition=Q(joined_escalation__isnull=False),
                         name="run_joined_escalation_idx"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="running"), name="run_lease_idx"),
            models.Index(fields=["replay_of"], condition=Q(replay_of__isnull=False), name="run_replay_of_idx"),
            models.Index(fields=["assigned_to"], condition=Q(assigned_to__isnull=False), name="run_assigned_to_idx"),
            models.Index(fields=["resolved_by"], condition=Q(resolved_by__isnull=False), name="run_resolved_by_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=in_choices("status", RunStatus),
                                   name="run_status_valid"),
            models.CheckConstraint(condition=in_choices("intent", Intent, blank=True), name="run_intent_valid"),
            models.CheckConstraint(condition=in_choices("lead_tier", LeadTier, blank=True),
                                   name="run_lead_tier_valid"),
            models.CheckConstraint(condition=in_choices("severity", Severity, blank=True),
                                   name="run_severity_valid"),
            models.CheckConstraint(condition=in_choices("llm_backend", LLMBackend, blank=True),
                                   name="run_llm_backend_valid"),
            models.CheckConstraint(condition=in_choices("sentiment", Sentiment, blank=True),
                                   name="run_sentiment_valid"),
            models.CheckConstraint(condition=in_choices("confidence_band", ConfidenceBand, blank=True),
                                   name="run_confidence_band_valid"),
            models.CheckConstraint(
                condition=Q(intent_confidence__isnull=True)
                | Q(intent_confidence__gte=0, intent_confidence__lte=1),
                name="run_intent_confidence_range",
            ),
            models.CheckConstraint(condition=Q(lead_score__isnull=True) | Q(lead_score__lte=100),
                                   name="run_lead_score_range"),
            models.CheckConstraint(condition=Q(status="running") | Q(finished_at__isnull=False),
                                   name="run_terminal_has_finished_at"),
            models.CheckConstraint(condition=~Q(status="escalated") | Q(escalate=True),
                                   name="run_escalated_has_flag"),
        ]

    def __str__(self) -> str:
        return str(self.id)

    @property
    def run_id(self) -> uuid.UUID:
        return self.id

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL_STATUSES

    @property
    def duration_ms(self) -> int | None:
        if not self.finished_at:
            return None
        return int((self.finished_at - self.created_at).total_seconds() * 1000)


class RunStep(models.Model):
    """One finished graph node of a run, as the workflow recorded it (an item of the API's `agent_steps`)."""

    # Indexed by the unique (run, sequence) below, which starts with it.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_index=False)
    sequence = models.PositiveIntegerField()
    key = models.CharField(max_length=100, help_text="Deterministic per run; a resumed run cannot record a step twice.")
    node = models.CharField(max_length=64)
    agent = models.CharField(max_length=64)
    action = models.CharField(max_length=200)
    output = models.TextField(blank=True, help_text="Human-readable result.")
    inputs = models.JSONField(default=dict, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    llm_backend = models.CharField("LLM backend", max_length=16, choices=LLMBackend.choices, blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    attempt = models.PositiveSmallIntegerField(default=1)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="runstep_unique_sequence"),
            models.UniqueConstraint(fields=["run", "key"], name="runstep_unique_key"),
            models.CheckConstraint(condition=in_choices("llm_backend", LLMBackend, blank=True),
                                   name="runstep_llm_backend_valid"),
            models.CheckConstraint(condition=Q(finished_at__gte=models.F("started_at")),
                                   name="runstep_finishes_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} #{self.sequence} {self.node}"

    @property
    def timestamp(self):
        return self.finished_at


class RunEvent(models.Model):
    """Append-only audit log of a run, like Django's LogEntry: written by `inquiries.events`,
    never updated (a database trigger refuses UPDATE), removed only with its run."""

    Type = RunEventType

    # Indexed by (run, created_at) below, which starts with it.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events", db_index=False)
    type = models.CharField(max_length=32, choices=RunEventType.choices)
    message = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    actor_label = models.CharField(
        max_length=200, blank=True, help_text="Who acted, kept even if the user is later deleted."
    )
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["run", "created_at"], name="runevent_run_created_idx"),
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="runevent_actor_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=in_choices("type", RunEventType), name="runevent_type_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} ({self.created_at:%Y-%m-%d %H:%M:%S})"


class OutboundEmail(models.Model):
    """An e-mail the system sends for a run; the unique (run, kind) makes it happen at most once."""

    Kind = EmailKind
    Status = EmailStatus

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=16, choices=EmailKind.choices, default=EmailKind.REPLY)
    to = models.EmailField(max_length=254)
    subject = models.CharField(max_length=500)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=EmailStatus.choices, default=EmailStatus.PENDING)
    error = models.TextField(blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Sent by the workflow without an operator: counted by the throttles (services/email.py).
    automatic = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "outbound e-mail"
        indexes = [
            models.Index(Lower("to"), "created_at", condition=Q(automatic=True), name="outboundemail_auto_to_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["run", "kind"], name="outboundemail_once_per_run"),
            models.CheckConstraint(condition=in_choices("status", EmailStatus),
                                   name="outboundemail_status_valid"),
            models.CheckConstraint(condition=in_choices("kind", EmailKind), name="outboundemail_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to}"
