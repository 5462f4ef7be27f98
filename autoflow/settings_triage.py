"""The Triage section of settings.py, in a module of its own (settings.py imports it at its end):
language detection, reply languages, entity patterns and sentiment bands, read by
orchestration/analysis/. The variables are in `.env.example`, section Triage."""

import environ

_env = environ.Env()  # settings.py has already read `.env` into the environment

# Languages the detector chooses among (ISO 639-1; "no" means Norwegian Bokmål). Fewer languages
# cost less memory and fewer confusions: text in a language not listed comes out as the closest
# listed one or as unknown. The default covers a European/American B2B inbox plus the large
# non-Latin scripts. Per worker process, low-accuracy mode, `python -m bench.analysis`: about
# +40 MB RSS, 0.3 s to build, 0.24 ms per inquiry of 260 characters for these 24 (docs/benchmarks.md).
LANGUAGE_DETECTION_LANGUAGES = _env.list(
    "LANGUAGE_DETECTION_LANGUAGES",
    default=[
        "en", "de", "fr", "es", "pt", "nl", "it", "pl", "sv", "da", "no", "fi",
        "cs", "ro", "hu", "tr", "ru", "uk", "el", "ja", "zh", "ko", "ar", "hi",
    ],
)
# High-accuracy mode adds the longer n-gram models: better on texts under about 120 characters,
# but about +620 MB RSS per worker for the 24 languages above (+225 MB for six). Off by default.
LANGUAGE_DETECTION_HIGH_ACCURACY = _env.bool("LANGUAGE_DETECTION_HIGH_ACCURACY", default=False)
# A language is reported only at this confidence (0..1) and with at least this many letters of
# text left after quotes, signatures, URLs and addresses are stripped; otherwise it is unknown ("").
LANGUAGE_DETECTION_MIN_CONFIDENCE = _env.float("LANGUAGE_DETECTION_MIN_CONFIDENCE", default=0.8)
LANGUAGE_DETECTION_MIN_LETTERS = _env.int("LANGUAGE_DETECTION_MIN_LETTERS", default=12)

# Languages the built-in engine writes replies in (orchestration/engines/reply_templates.py);
# an inquiry in any other language is answered in English.
REPLY_LANGUAGES = _env.list("REPLY_LANGUAGES", default=["en", "de", "fr", "es", "pt", "nl"])

# Reference numbers in inquiries (orchestration/analysis/entities.py): kind -> regular
# expressions whose group "value" is the number. Override with a JSON object of the same shape (it
# replaces the whole default: a kind left out has no patterns); every pattern must run in linear
# time (bounded quantifiers, no nested repetition: tests/test_redos.py checks the configured ones).
ENTITY_REFERENCE_PATTERNS = _env.json(
    "ENTITY_REFERENCE_PATTERNS",
    default={
        "invoice": [
            r"\b(?P<value>INV-?\d{2,6}(?:-\d{1,8})?)\b",
            r"(?i:\b(?:invoice|rechnung|facture|factura|fatura|factuur)(?:\s{1,3}(?:no\.?|nr\.?|number|#))?"
            r"\s{0,3}#?\s{0,2}:?\s{0,2})(?P<value>[A-Z]{0,4}-?\d{3,12})\b",
        ],
        "order": [
            r"\b(?P<value>(?:ORD|PO)-?\d{3,12})\b",
            r"(?i:\b(?:order|bestellung|commande|pedido|encomenda|bestelling)(?:\s{1,3}(?:no\.?|nr\.?|number|#))?"
            r"\s{0,3}#?\s{0,2}:?\s{0,2})(?P<value>\d{3,12})\b",
        ],
        "ticket": [
            r"\b(?P<value>(?:TCK|TKT|TICKET|CASE|SR)-\d{2,10})\b",
            r"(?i:\b(?:ticket|caso)(?:\s{1,3}(?:no\.?|nr\.?|number|#))?"
            r"\s{0,3}#?\s{0,2}:?\s{0,2})(?P<value>\d{3,10})\b",
        ],
    },
)

# Sentiment bands on VADER's compound score (-1..1) for English (orchestration/analysis/sentiment.py):
# very_negative <= SENTIMENT_VERY_NEGATIVE < negative <= SENTIMENT_NEGATIVE < neutral
# < SENTIMENT_POSITIVE <= positive < SENTIMENT_VERY_POSITIVE <= very_positive.
SENTIMENT_VERY_NEGATIVE = _env.float("SENTIMENT_VERY_NEGATIVE", default=-0.6)
SENTIMENT_NEGATIVE = _env.float("SENTIMENT_NEGATIVE", default=-0.1)
SENTIMENT_POSITIVE = _env.float("SENTIMENT_POSITIVE", default=0.3)
SENTIMENT_VERY_POSITIVE = _env.float("SENTIMENT_VERY_POSITIVE", default=0.7)
