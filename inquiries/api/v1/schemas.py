"""Request and response shapes of API v1 (README.md, "The API"; the full document is /api/v1/docs)."""

from typing import Any
from uuid import UUID

import email_validator
from ninja import Schema
from pydantic import ConfigDict, EmailStr, Field, field_validator

from inquiries.models import ConfidenceBand, Intent, LeadTier, LLMBackend, RunStatus, Sentiment

# A CRM may hold addresses on special-use domains (.local, .test, …): the sender is a fact we
# record, not a mailbox we verify. email-validator documents this list as the place to say so.
email_validator.SPECIAL_USE_DOMAIN_NAMES = []

METADATA_MAX_BYTES = 8 * 1024
METADATA_MAX_DEPTH = 5
# Some visible text, and no U+0000 (PostgreSQL cannot store it in text columns).
TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"


def without_nul(value: Any) -> Any:
    """JSON for a JSONB column: U+0000 cannot be stored there, so it becomes U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


class InquiryRequest(Schema):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    sender_name: str = Field(min_length=1, max_length=200, pattern=TEXT)
    sender_email: EmailStr = Field(max_length=254)
    subject: str = Field(min_length=1, max_length=500, pattern=TEXT)
    body: str = Field(min_length=1, max_length=5000, pattern=TEXT)
    metadata: dict[str, Any] | None = Field(
        default=None, description=f"Kept with the run; at most {METADATA_MAX_BYTES} bytes as JSON, "
                                  f"{METADATA_MAX_DEPTH} levels deep.")

    @field_validator("metadata")
    @classmethod
    def _metadata_is_bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        import json

        if value is None:
            return value
        if _depth(value) > METADATA_MAX_DEPTH:
            raise ValueError(f"metadata is nested deeper than {METADATA_MAX_DEPTH} levels")
        if len(json.dumps(value, separators=(",", ":"))) > METADATA_MAX_BYTES:
            raise ValueError(f"metadata is larger than {METADATA_MAX_BYTES} bytes")
        return without_nul(value)


class WebhookResponse(Schema):
    run_id: UUID
    status: RunStatus
    message: str
    poll_url: str
    idempotent_replay: bool = False
    stream_token: str = Field(description="Signed, for this run and this caller only, valid "
                                          "STREAM_TOKEN_TTL_SECONDS (default 3600): the `token` of `ws_url`.")
    ws_url: str = Field(description="The run's live events: `/api/v1/ws/<run_id>?token=<stream_token>`.")


class StepOut(Schema):
    agent: str
    action: str
    output: str
    timestamp: str
    node: str
    sequence: int
    duration_ms: int
    model: str
    llm_backend: LLMBackend | str
    prompt_tokens: int | None
    completion_tokens: int | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str
    attempt: int


class EscalationReasonOut(Schema):
    rule: str = Field(examples=["high_severity"])
    detail: str = Field(examples=["severity critical"])


class OrderNumberOut(Schema):
    kind: str = Field(description="order | invoice | ticket")
    value: str


class AmountOut(Schema):
    value: float
    currency: str = Field(description="ISO 4217, or empty when the text names none.")
    text: str


class EntitiesOut(Schema):
    """What the triage extracted from the inquiry (docs/api.md, "Triage")."""

    order_numbers: list[OrderNumberOut] = []
    amounts: list[AmountOut] = []
    seats: list[int] = []
    products: list[str] = []
    urls: list[str] = []
    emails: list[str] = []


class CitationOut(Schema):
    slug: str
    title: str
    passage: str


class RunStatusOut(Schema):
    run_id: UUID
    status: RunStatus
    intent: Intent | str = Field(description="One of the ten taxonomy values, or empty before classification.")
    intent_confidence: float | None
    current_agent: str
    agent_steps: list[StepOut]
    final_response: str
    lead_score: int | None
    lead_tier: LeadTier | str
    escalate: bool
    escalation_reason: str = Field(description='The rules that fired as text: "rule: detail; rule: detail".')
    # A default: snapshots cached before the field existed lack it.
    escalation_reasons: list[EscalationReasonOut] = Field(
        default=[], description="The escalation rules that fired, in order: `escalation_reason` as data.")
    created_at: str
    updated_at: str
    error: str
    sender_name: str
    sender_email: str
    subject: str
    model_version: str
    workflow_version: str
    llm_backend: LLMBackend | str
    # Defaults: snapshots cached before these fields existed lack them.
    confidence_band: ConfidenceBand | str = Field(
        default="", description="high | medium | low (settings CONFIDENCE_BAND_*), empty before classification.")
    language: str = Field(default="", description="The inquiry's language, ISO 639-1, or empty when not detected.")
    language_confidence: float | None = None
    sentiment: Sentiment = Field(default=Sentiment.UNKNOWN, description="Five-point scale, or unknown.")
    entities: EntitiesOut = Field(default_factory=lambda: EntitiesOut())
    citations: list[CitationOut] = Field(default=[], description="The knowledge-base passages the reply used.")


class RunListItem(Schema):
    run_id: UUID
    status: RunStatus
    intent: Intent | str
    sender_name: str
    sender_email: str
    subject: str
    created_at: str
    updated_at: str
    escalate: bool
    lead_tier: LeadTier | str
    confidence_band: ConfidenceBand | str = ""
    language: str = ""


class DeleteOut(Schema):
    deleted: bool
    run_id: UUID


class ErrorOut(Schema):
    error: str = Field(examples=["validation_error"])
    message: str
    details: list[Any] = []
    request_id: str


__all__ = [
    "InquiryRequest", "WebhookResponse", "StepOut", "EscalationReasonOut", "RunStatusOut", "RunListItem", "DeleteOut",
    "ErrorOut",
]
