"""AutoFlow's system of record.

An `Inquiry` is what a caller sent; a `Run` is one execution of the workflow over it (a replay is a
new run of the same inquiry). A run's story is told twice: `RunStep` rows are the workflow's own
output (one per graph node, deduplicated by `key`), and `RunEvent` rows are the append-only audit
log of everything that happened to the run (received, queued, started, each step, escalated,
completed, failed, operator actions). Closed value sets are enforced by the database, not only by
forms, so no writer can store a status, intent or tier outside the contract.
"""

import hashlib
import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Lower
from django.utils import timezone


class Intent(models.TextChoices):
    GENERAL_INQUIRY = "general_inquiry", "General inquiry"
    FAQ = "faq", "FAQ"
    SALES = "sales", "Sales"
    PRICING = "pricing", "Pricing"
    DEMO_REQUEST = "demo_request", "Demo request"
    UPGRADE = "upgrade", "Upgrade"
    SUPPORT = "support", "Support"
    BUG_REPORT = "bug_report", "Bug report"
    COMPLAINT = "complaint", "Complaint"
    BILLING_ISSUE = "billing_issue", "Billing issue"


class Family(models.TextChoices):
    FAQ = "faq", "FAQ"
    SALES = "sales", "Sales"
    SUPPORT = "support", "Support"


INTENT_FAMILY: dict[str, str] = {
    Intent.GENERAL_INQUIRY: Family.FAQ,
    Intent.FAQ: Family.FAQ,
    Intent.SALES: Family.SALES,
    Intent.PRICING: Family.SALES,
    Intent.DEMO_REQUEST: Family.SALES,
    Intent.UPGRADE: Family.SALES,
    Intent.SUPPORT: Family.SUPPORT,
    Intent.BUG_REPORT: Family.SUPPORT,
    Intent.COMPLAINT: Family.SUPPORT,
    Intent.BILLING_ISSUE: Family.SUPPORT,
}


class LeadTier(models.TextChoices):
    HOT = "hot", "Hot"
    WARM = "warm", "Warm"
    COLD = "cold", "Cold"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class LLMBackend(models.TextChoices):
    OLLAMA = "ollama", "Ollama"
    BUILTIN = "builtin", "Built-in engine"


class InquirySource(models.TextChoices):
    API = "api", "Webhook API"
    CONSOLE = "console", "Operator console"
    REPLAY = "replay", "Replay"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    ESCALATED = "escalated", "Escalated"
    ERROR = "error", "Error"


class RunEventType(models.TextChoices):
    RECEIVED = "received", "Received"
    QUEUED = "queued", "Queued"
    STARTED = "started", "Started"
    STEP = "step", "Step recorded"
    RETRIED = "retried", "Retried"
    LEASE_EXPIRED = "lease_expired", "Lease expired"
    FALLBACK = "fallback", "Fell back to the built-in engine"
    ESCALATED = "escalated", "Escalated"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    ASSIGNED = "assigned", "Assigned"
    DRAFT_EDITED = "draft_edited", "Draft edited"
    REPLY_SENT = "reply_sent", "Reply sent"
    RESOLVED = "resolved", "Resolved"
    REPLAYED = "replayed", "Replayed"
    NOTE = "note", "Note"


class EmailKind(models.TextChoices):
    REPLY = "reply", "Reply to sender"


class EmailStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


def _in_choices(field: str, choices: type[models.TextChoices], *, blank: bool = False) -> Q:
    condition = Q(**{f"{field}__in": choices.values})
    return condition | Q(**{field: ""}) if blank else condition


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


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
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "API client"

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(raw_key: str) -> str:
        # Keys are 32+ random bytes, so a fast hash is enough and lets us look a key up by its hash.
        return hashlib.sha256(raw_key.encode()).hexdigest()


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
        constraints = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="contact_email_lowercase"),
            models.CheckConstraint(condition=_in_choices("last_intent", Intent, blank=True),
                                   name="contact_last_intent_valid"),
            models.CheckConstraint(condition=_in_choices("lead_tier", LeadTier, blank=True),
                                   name="contact_lead_tier_valid"),
            models.CheckConstraint(condition=Q(lead_score__isnull=True) | Q(lead_score__lte=100),
                                   name="contact_lead_score_range"),
        ]

    def __str__(self) -> str:
        return self.email


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
            models.CheckConstraint(condition=_in_choices("source", InquirySource),
                                   name="inquiry_source_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} <{self.sender_email}>"


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
    severity = models.CharField(max_length=16, choices=Severity.choices, blank=True)
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
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["-created_at"], name="run_created_idx"),
            models.Index(fields=["status", "-created_at"], name="run_status_created_idx"),
            models.Index(fields=["intent", "-created_at"], name="run_intent_created_idx"),
            models.Index(fields=["-created_at"], condition=Q(escalate=True), name="run_escalated_idx"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="running"), name="run_lease_idx"),
            models.Index(fields=["replay_of"], condition=Q(replay_of__isnull=False), name="run_replay_of_idx"),
            models.Index(fields=["assigned_to"], condition=Q(assigned_to__isnull=False), name="run_assigned_to_idx"),
            models.Index(fields=["resolved_by"], condition=Q(resolved_by__isnull=False), name="run_resolved_by_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=_in_choices("status", RunStatus),
                                   name="run_status_valid"),
            models.CheckConstraint(condition=_in_choices("intent", Intent, blank=True), name="run_intent_valid"),
            models.CheckConstraint(condition=_in_choices("lead_tier", LeadTier, blank=True),
                                   name="run_lead_tier_valid"),
            models.CheckConstraint(condition=_in_choices("severity", Severity, blank=True),
                                   name="run_severity_valid"),
            models.CheckConstraint(condition=_in_choices("llm_backend", LLMBackend, blank=True),
                                   name="run_llm_backend_valid"),
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
            models.CheckConstraint(condition=_in_choices("llm_backend", LLMBackend, blank=True),
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
            models.CheckConstraint(condition=_in_choices("type", RunEventType), name="runevent_type_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} ({self.created_at:%Y-%m-%d %H:%M:%S})"


class IdempotencyRecord(models.Model):
    """The durable claim of an `Idempotency-Key`, committed with its run. Redis caches it."""

    scope = models.CharField(max_length=200, help_text="The caller the key belongs to.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request body.")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="idempotency_records")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_unique_scope_key"),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


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

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "outbound e-mail"
        constraints = [
            models.UniqueConstraint(fields=["run", "kind"], name="outboundemail_once_per_run"),
            models.CheckConstraint(condition=_in_choices("status", EmailStatus),
                                   name="outboundemail_status_valid"),
            models.CheckConstraint(condition=_in_choices("kind", EmailKind), name="outboundemail_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to}"


class LeadScoreEntry(models.Model):
    """One lead score given to a contact, with the explicit signals behind it."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="lead_scores")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    score = models.PositiveSmallIntegerField()
    tier = models.CharField(max_length=8, choices=LeadTier.choices)
    signals = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "lead score entries"
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=100), name="leadscore_score_range"),
            models.CheckConstraint(condition=_in_choices("tier", LeadTier), name="leadscore_tier_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} {self.score} ({self.tier})"


class KnowledgeArticle(TimeStampedModel):
    """A fact the FAQ agent may answer from; searched with PostgreSQL full-text search."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    category = models.CharField(max_length=50, blank=True)
    keywords = models.CharField(max_length=500, blank=True, help_text="Extra search terms, space separated.")
    is_published = models.BooleanField(default=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("keywords", weight="A", config="english")
        + SearchVector("body", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["title"]
        indexes = [GinIndex(fields=["search_vector"], name="kb_search_vector_idx")]

    def __str__(self) -> str:
        return self.title
