"""The language of an inquiry, by lingua (lingua-language-detector) among the languages of
settings.LANGUAGE_DETECTION_LANGUAGES. The detector is built once per process (its models all loaded
then: about 0.3 s and 40 MB in low-accuracy mode, bench/analysis.py) and is safe to share between threads; warm_up() builds
it and loads the models ahead of the first run (orchestration/warmup.py).

`detect_language` answers ("", 0.0) when too little text is left or no language reaches
settings.LANGUAGE_DETECTION_MIN_CONFIDENCE: an unknown language is answered in English."""

import logging
import threading
from typing import NamedTuple

from django.conf import settings

from .text import own_text

logger = logging.getLogger(__name__)

# ISO 639-1 codes that lingua spells otherwise.
ALIASES = {"no": "nb"}
_lock = threading.Lock()
_detector = None


class Detected(NamedTuple):
    code: str  # ISO 639-1, lower case; "" when unknown
    confidence: float


UNKNOWN = Detected("", 0.0)


def _build():
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = []
    for code in settings.LANGUAGE_DETECTION_LANGUAGES:
        code = ALIASES.get(code.strip().lower(), code.strip().lower())
        iso = getattr(IsoCode639_1, code.upper(), None)
        if iso is None:
            logger.warning("language detection: lingua does not know %r, left out", code)
        elif iso not in codes:
            codes.append(iso)
    if len(codes) < 2:  # lingua needs two; with fewer there is nothing to detect
        return None
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
    if not settings.LANGUAGE_DETECTION_HIGH_ACCURACY:
        builder = builder.with_low_accuracy_mode()
    # All models at build time: the first inquiry of each language does not pay for loading.
    return builder.with_preloaded_language_models().build()


def detector():
    """The process's detector (None with fewer than two known languages), built on first use."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                _detector = _build() or False
    return _detector or None


def reset() -> None:
    """Forget the detector (tests that change the settings)."""
    global _detector
    with _lock:
        _detector = None


def warm_up() -> None:
    """Build the detector and load its models, so that the first inquiry does not wait."""
    found = detector()
    if found is not None:
        found.compute_language_confidence_values("warm-up: the quick brown fox jumps over the dog")


def _code(language) -> str:
    code = language.iso_code_639_1.name.lower()
    return "no" if code == "nb" else code


def detect_language(text: str) -> Detected:
    """The language of the customer's own words in `text`, with lingua's confidence (0..1)."""
    words = own_text(text)
    if sum(ch.isalpha() for ch in words) < settings.LANGUAGE_DETECTION_MIN_LETTERS:
        return UNKNOWN
    found = detector()
    if found is None:
        return UNKNOWN
    values = found.compute_language_confidence_values(words)
    if not values:
        return UNKNOWN
    top = values[0]
    if top.value < settings.LANGUAGE_DETECTION_MIN_CONFIDENCE:
        return UNKNOWN
    return Detected(_code(top.language), round(float(top.value), 3))
