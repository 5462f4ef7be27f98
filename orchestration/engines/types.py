"""What an engine answers, and how it fails. Both engines (Ollama, built-in) speak these types.

Every value a model returns is validated here against the closed sets of the domain (intents,
severities, timelines): a model may contribute, but it cannot invent a category.
"""

from typing import Literal

from pydantic import BaseModel, Field

from inquiries.models import Intent, Sentiment, Severity

IntentValue = Literal[tuple(Intent.values)]  # type: ignore[valid-type]
SentimentValue = Literal[tuple(Sentiment.values)]  # type: ignore[valid-type]
SeverityValue = Literal[tuple(Severity.values)]  # type: ignore[valid-type]
Timeline = Literal["now", "this_quarter", "later", "unknown"]


class Classification(BaseModel):
    intent: IntentValue
    confidence: float = Field(ge=0, le=1)
    severity: SeverityValue = "low"
    # The model's reading of the sender's mood; the built-in engine leaves it to orchestration/analysis/.
    sentiment: SentimentValue = "unknown"
    reasoning: str = Field(default="", max_length=1000)


class SupportAssessment(BaseModel):
    severity: SeverityValue
    summary: str = Field(max_length=1000)


class LeadSignals(BaseModel):
    """Explicit buying signals. -1 / "unknown" mean the inquiry does not say."""

    seats: int = Field(default=-1, ge=-1, le=1_000_000)
    budget: int = Field(default=-1, ge=-1, le=1_000_000_000)
    timeline: Timeline = "unknown"
    urgent: bool = False


class FaqAnswer(BaseModel):
    answerable: bool
    answer: str = Field(default="", max_length=4000)


class Reply(BaseModel):
    body: str = Field(min_length=1, max_length=6000)


class LLMError(Exception):
    """A model call that did not give a usable answer."""

    code = "llm_error"
    retryable = False


class LLMUnavailable(LLMError):
    """The model cannot be reached or keeps failing (connection, 5xx, 503, timeout, breaker open)."""

    code = "llm_unavailable"


class StructuredOutputError(LLMError):
    """The model answered, but its output was still invalid after one repair."""

    code = "model_output_invalid"

    def __init__(self, message: str, *, raw: str = ""):
        super().__init__(message)
        self.raw = raw
