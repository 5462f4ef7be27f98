"""AutoFlow's system of record.

An `Inquiry` is what a caller sent; a `Run` is one execution of the workflow over it (a replay is a
new run of the same inquiry). A run's story is told twice: `RunStep` rows are the workflow's own
output (one per graph node, deduplicated by `key`), and `RunEvent` rows are the append-only audit
log of everything that happened to the run (received, queued, started, each step, escalated,
completed, failed, operator actions). Closed value sets are enforced by the database, not only by
forms, so no writer can store a status, intent or tier outside the contract.

The models live in modules by topic: `choices` (the closed value sets), `contacts` (CRM),
`intake` (API clients, inquiries, idempotency claims), `runs` (runs, steps, events, e-mail),
`knowledge` (the knowledge base and the product names), `webhooks` (outbound webhook
subscriptions, deliveries and their attempts) and `audit` (the audit log of what outlives its subject: a
deleted run, a sign-in lock-out); every name is importable from `inquiries.models`.
"""

from .audit import AuditEntry
from .choices import (
    INTENT_FAMILY,
    ApiScope,
    AuditAction,
    ConfidenceBand,
    EmailKind,
    EmailStatus,
    Family,
    InquirySource,
    Intent,
    LeadTier,
    LLMBackend,
    RunEventType,
    RunStatus,
    Sentiment,
    Severity,
)
from .contacts import Contact, LeadScoreEntry
from .intake import ApiClient, IdempotencyRecord, Inquiry
from .knowledge import KnowledgeArticle, ProductName
from .runs import OutboundEmail, Run, RunEvent, RunStep
from .webhooks import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = [
    "Intent", "Family", "INTENT_FAMILY", "LeadTier", "Severity", "LLMBackend", "InquirySource", "ApiScope", "RunStatus",
    "RunEventType", "AuditAction", "Sentiment", "ConfidenceBand", "EmailKind", "EmailStatus", "AuditEntry",
    "Contact", "LeadScoreEntry", "ApiClient", "IdempotencyRecord", "Inquiry", "KnowledgeArticle",
    "ProductName",
    "OutboundEmail", "Run", "RunEvent", "RunStep",
    "DeliveryStatus", "WebhookAttempt", "WebhookDelivery", "WebhookEvent", "WebhookSubscription",
]
