"""The sentiment of an inquiry in five bands, or "unknown".

English text is scored by VADER (vaderSentiment): its compound score (-1..1) of the customer's
own words (orchestration/analysis/text.py) falls into a band by the thresholds of
settings.SENTIMENT_* (defaults, tuned on the examples of tests/test_sentiment.py):

    compound <= -0.6          very_negative   angry complaints, threats to cancel
    -0.6 < compound <= -0.1   negative        "the export is broken", an error, a failure
    -0.1 < compound <  0.3    neutral         questions, requests
    0.3 <= compound <  0.7    positive        friendly requests, a plain "thanks"
    compound >= 0.7           very_positive   warm thanks, praise

VADER's lexicon is general-purpose; a support inbox's politeness ("please help", "would like",
"kindly") is not sentiment, and its trouble words ("bug", "outage", "crashes") are missing, so
DOMAIN_LEXICON adjusts those entries. Other languages are "unknown": VADER scores English only
(the Ollama engine gives its own label; `normalize_label` maps it to the same set)."""

import threading

from django.conf import settings

from .text import own_text

LABELS = ("very_negative", "negative", "neutral", "positive", "very_positive", "unknown")
UNKNOWN = "unknown"
MAX_CHARS = 5_000

# word -> valence (VADER's scale, -4..4); 0 takes a word's sentiment away.
DOMAIN_LEXICON = {
    # politeness and the vocabulary of any request
    "please": 0.0, "help": 0.0, "kindly": 0.0, "support": 0.0, "free": 0.0, "like": 0.0,
    "hope": 0.3, "urgent": 0.0, "well": 0.0, "joke": -1.5, "sorry": 0.0,
    # thanks is the point of a thank-you note
    "thanks": 3.0, "thank": 2.6, "thx": 2.4, "grateful": 2.6, "fixed": 1.2,
    # trouble
    "broken": -2.3, "garbage": -2.8, "unusable": -2.8, "crashes": -1.8, "crashed": -1.8,
    "crashing": -1.8, "bug": -1.2, "bugs": -1.2, "buggy": -1.8, "outage": -2.0, "slow": -0.6, "fail": -1.8, "expired": -1.2,
    "nobody": -1.0, "refund": -0.8, "chargeback": -2.0, "lawyer": -1.5, "unacceptable": -2.8,
    "ridiculous": -2.3, "incompetent": -2.8, "furious": -3.0, "disgrace": -2.8,
}

_lock = threading.Lock()
_analyzer = None


def analyzer():
    """VADER with the domain lexicon, built once per process (its scoring only reads it)."""
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                built = SentimentIntensityAnalyzer()
                built.lexicon.update(DOMAIN_LEXICON)
                _analyzer = built
    return _analyzer


def band(compound: float) -> str:
    """The band of a VADER compound score by the settings' thresholds."""
    if compound <= settings.SENTIMENT_VERY_NEGATIVE:
        return "very_negative"
    if compound <= settings.SENTIMENT_NEGATIVE:
        return "negative"
    if compound >= settings.SENTIMENT_VERY_POSITIVE:
        return "very_positive"
    if compound >= settings.SENTIMENT_POSITIVE:
        return "positive"
    return "neutral"


def compound_of(text: str) -> float:
    """VADER's compound score of the customer's own words in `text` (0.0 for no words)."""
    words = own_text(text)[:MAX_CHARS].strip()
    if not words:
        return 0.0
    return float(analyzer().polarity_scores(words)["compound"])


def sentiment_of(text: str, language: str) -> str:
    """The sentiment band of `text`, or "unknown" when its language is not English."""
    if (language or "").lower() != "en":
        return UNKNOWN
    if not own_text(text).strip():
        return UNKNOWN
    return band(compound_of(text))


# A model's own words for sentiment -> the closed set.
_SYNONYMS = {
    "very negative": "very_negative", "very_negative": "very_negative", "angry": "very_negative",
    "furious": "very_negative", "hostile": "very_negative", "extremely negative": "very_negative",
    "negative": "negative", "frustrated": "negative", "upset": "negative", "annoyed": "negative",
    "unhappy": "negative", "dissatisfied": "negative", "concerned": "negative",
    "neutral": "neutral", "mixed": "neutral", "calm": "neutral", "none": "neutral",
    "positive": "positive", "satisfied": "positive", "happy": "positive", "friendly": "positive",
    "very positive": "very_positive", "very_positive": "very_positive", "delighted": "very_positive",
    "enthusiastic": "very_positive", "grateful": "very_positive", "extremely positive": "very_positive",
}


def normalize_label(label: object) -> str:
    """A sentiment label a model gave ("Very Negative", "very-negative", "angry", ...) as one of
    LABELS; "unknown" for anything else."""
    if not isinstance(label, str):
        return UNKNOWN
    key = " ".join(label.strip().lower().replace("_", " ").replace("-", " ").split())[:40]
    return _SYNONYMS.get(key) or _SYNONYMS.get(key.replace(" ", "_"), UNKNOWN)
