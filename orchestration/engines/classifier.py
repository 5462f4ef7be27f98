"""The built-in engine's intent classifier: TF-IDF (words and character n-grams) + logistic
regression with balanced class weights, trained at first use on the labelled sets shipped in
`orchestration/data/`, then informed by the phrase rules of `intent_rules.py` and calibrated by a
temperature (docs/workflow.md, "The built-in classifier").

Training takes a few seconds and happens once per process; the data, not a pickled model, is
what is versioned. `confidence` is the probability of the predicted *family* (the sum over its fine
intents): routing is what the escalation threshold protects, and a "pricing or sales?" doubt
should not send a clear sales inquiry to a human.
"""

import json
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core import cpu_budget
from inquiries.models import INTENT_FAMILY

from . import intent_rules

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# File -> (the weight of its rows, the split trained on; None: every row). The public chat sets are
# other domains (banking, retail): they teach the intents' words, and are weighted down so that the
# business inquiries we route (our e-mails, the B2B rows) set the style. Chosen by 5-fold
# cross-validation on the B2B train rows (docs/workflow.md). The B2B file's split="test" fifth is
# held out: it is never trained on.
TRAINING_FILES: dict[str, tuple[float, str | None]] = {
    "inquiries_dev.jsonl": (0.5, None),
    "inquiries_extra.jsonl": (3.0, None),
    "inquiries_b2b.jsonl": (4.0, "train"),
}
HELD_OUT_SPLIT = "test"
# Logits are divided by this before the softmax: fitted on out-of-fold predictions of the
# training set (`manage.py evaluate_classifier --fit-temperature`), so that a 0.8 confidence is
# right about 80% of the time. Refit it when the training data or the model changes.
TEMPERATURE = 0.6


@dataclass(frozen=True)
class Example:
    subject: str
    body: str
    label_fine: str
    label_family: str = ""
    weight: float = 1.0
    source: str = ""
    split: str = ""


@dataclass(frozen=True)
class Prediction:
    intent: str
    family: str
    confidence: float
    intent_probability: float
    probabilities: dict[str, float]


def text_of(subject: str, body: str) -> str:
    return f"{subject}\n{body}" if subject else body


def read_examples(path: Path | str, *, weight: float = 1.0, split: str | None = None) -> list[Example]:
    """The labelled rows of a JSON-lines file; with `split`, only the rows of that split."""
    examples = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if split is not None and row.get("split", "") != split:
                continue
            if row.get("label_fine") not in INTENT_FAMILY:
                raise ValueError(f"{path}:{number}: unknown label_fine {row.get('label_fine')!r}")
            examples.append(Example(subject=row.get("subject") or "", body=row["body"],
                                    label_fine=row["label_fine"],
                                    label_family=row.get("label_family") or INTENT_FAMILY[row["label_fine"]],
                                    weight=weight, source=row.get("source") or "", split=row.get("split") or ""))
    return examples


def training_examples() -> list[Example]:
    return [example for name, (weight, split) in TRAINING_FILES.items() if (DATA_DIR / name).exists()
            for example in read_examples(DATA_DIR / name, weight=weight, split=split)]


class IntentClassifier:
    """`rules=False` leaves the phrase rules out (to measure what they add); `temperature` scales
    the logits (1: the raw model)."""

    def __init__(self, examples: Iterable[Example], *, rules: bool = True, temperature: float | None = None):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        examples = list(examples)
        self.pipeline = make_pipeline(
            make_union(
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
            ),
            LogisticRegression(C=10, max_iter=3000, class_weight="balanced", solver="newton-cg"),
        )
        self.pipeline.fit([text_of(e.subject, e.body) for e in examples], [e.label_fine for e in examples],
                          logisticregression__sample_weight=[e.weight for e in examples])
        self.classes = [str(c) for c in self.pipeline.classes_]
        self.rules = rules
        self.temperature = TEMPERATURE if temperature is None else temperature
        self._lock = threading.Lock()

    def raw_probabilities(self, texts: list[str]):
        """The model's probabilities (rows: texts, columns: `self.classes`), without rules or temperature."""
        with self._lock:  # scikit-learn estimators are not documented as thread-safe
            return self.pipeline.predict_proba(texts)

    def predict(self, subject: str, body: str) -> Prediction:
        text = text_of(subject, body)
        row = self.raw_probabilities([text])[0]
        probabilities = scaled({c: float(p) for c, p in zip(self.classes, row, strict=True)}, self.temperature)
        if self.rules:
            probabilities = intent_rules.apply(probabilities, intent_rules.matching(text))
        # The route is the likeliest family; the intent, the likeliest within it.
        families: dict[str, float] = {}
        for c, p in probabilities.items():
            families[INTENT_FAMILY[c]] = families.get(INTENT_FAMILY[c], 0.0) + p
        family = max(families, key=families.get)
        family_probability = families[family]
        intent = max((c for c in probabilities if INTENT_FAMILY[c] == family), key=probabilities.get)
        return Prediction(intent=intent, family=str(family), confidence=round(min(family_probability, 1.0), 4),
                          intent_probability=round(probabilities[intent], 4), probabilities=probabilities)


def scaled(probabilities: dict[str, float], temperature: float) -> dict[str, float]:
    """Temperature scaling: softmax(log p / T). T > 1 softens over-confident probabilities."""
    if temperature == 1.0:
        return probabilities
    logits = {c: math.log(max(p, 1e-12)) / temperature for c, p in probabilities.items()}
    top = max(logits.values())
    exp = {c: math.exp(v - top) for c, v in logits.items()}
    total = sum(exp.values())
    return {c: v / total for c, v in exp.items()}


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _trained() -> IntentClassifier:
    return IntentClassifier(training_examples())


def get_classifier() -> IntentClassifier:
    with _lock, cpu_budget.excluded():  # two threads must not both train; training is not the node's work
        return _trained()
