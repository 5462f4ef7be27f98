"""The closed value sets of the contract (statuses, intents, tiers, …), enforced by database
constraints as well as forms (`in_choices`)."""

from django.db import models


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


class Sentiment(models.TextChoices):
    """How the sender feels, on a five-point scale; `unknown` where no model applies."""

    VERY_NEGATIVE = "very_negative", "Very negative"
    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"
    POSITIVE = "positive", "Positive"
    VERY_POSITIVE = "very_positive", "Very positive"
    UNKNOWN = "unknown", "Unknown"


class ConfidenceBand(models.TextChoices):
    """The classification's confidence as a band (settings CONFIDENCE_BAND_HIGH / _MEDIUM)."""

    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class LLMBackend(models.TextChoices):
    OLLAMA = "ollama", "Ollama"
    BUILTIN = "builtin", "Built-in engine"


class InquirySource(models.TextChoices):
    API = "api", "Webhook API"
    CONSOLE = "console", "Operator console"
    REPLAY = "replay", "Replay"


class ApiScope(models.TextChoices):
    """What an API client's key may do (docs/api.md, "Keys and scopes")."""

    INTAKE = "intake", "Submit inquiries"
    READ_OWN = "read_own", "Read the runs it submitted"
    READ_ALL = "read_all", "Read every run"
    DELETE = "delete", "Delete runs it can read"


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


class AuditAction(models.TextChoices):
    """What the audit log (AuditEntry) records; each its own value, added as needed."""

    RUN_DELETED = "run_deleted", "Run deleted"
    INQUIRY_DELETED = "inquiry_deleted", "Inquiry without runs deleted"
    LOGIN_LOCKED_OUT = "login_locked_out", "Sign-in locked out"
    RETENTION_PURGE = "retention_purge", "Expired runs purged"
    CONTACT_ERASED = "contact_erased", "Contact erased"
    CONTACT_EXPORTED = "contact_exported", "Contact exported"
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_REFUSED = "sign_in_refused", "Sign-in refused"


class EmailKind(models.TextChoices):
    REPLY = "reply", "Reply to sender"


class EmailStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Failed for now; sent again soon"
    FAILED = "failed", "Failed"
