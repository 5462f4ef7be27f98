"""Analysis of an inquiry's text for triage: its language (language.py), sentiment
(sentiment.py) and the entities it names (entities.py). Pure functions of the text and settings;
`read_inquiry` is what the classification step records on the run."""

from dataclasses import dataclass

from inquiries import selectors

from .entities import extract_entities
from .language import detect_language
from .sentiment import UNKNOWN, normalize_label, sentiment_of


@dataclass(frozen=True)
class Reading:
    language: str  # ISO 639-1, "" when the text is too short or mixed to tell
    language_confidence: float | None
    sentiment: str
    entities: dict


def read_inquiry(subject: str, body: str, *, model_sentiment: str = "") -> Reading:
    """What the triage reads in an inquiry. The model's sentiment wins when it gave one (Ollama);
    otherwise VADER reads English, and a text too short for the detector but written in plain
    ASCII is read as English too (a chat line such as "charged twice again??")."""
    text = f"{subject}\n{body}" if subject else body
    detected = detect_language(text)
    sentiment = normalize_label(model_sentiment) if model_sentiment else UNKNOWN
    if sentiment == UNKNOWN:
        sentiment = sentiment_of(text, detected.code or ("en" if text.isascii() else ""))
    entities = extract_entities(subject, body, products=selectors.product_names())
    return Reading(language=detected.code, language_confidence=detected.confidence if detected.code else None,
                   sentiment=sentiment, entities=entities)
