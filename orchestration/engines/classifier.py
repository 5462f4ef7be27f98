"""The built-in engine's intent classifier: TF-IDF (words and character n-grams) + logistic
regression, trained at first use on the labelled sets shipped in `orchestration/data/`.

Training takes about two seconds and happens once per process; the data, not a pickled model, is
what is versioned. `confidence` is the probability of the predicted *family* (the sum over its fine
intents): routing is what the escalation threshold protects, and a "pricing or sales?" doubt
should not send a clear sales inquiry to a human.
"""

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core import cpu_budget
from inquiries.models import INTENT_FAMILY

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# File and the weight of its rows. Our own business-e-mail cases are few beside 1,500 chat
# utterances from public sets; weighting them keeps that style from being drowned out.
TRAINING_FILES = {"inquiries_dev.jsonl": 1.0, "inquiries_extra.jsonl": 3.0}


@dataclass(frozen=True)
class Example:
    subject: str
    body: str
    label_fine: str
    label_family: str = ""
    weight: float = 1.0


@dataclass(frozen=True)
class Prediction:
    intent: str
    family: str
    confidence: float
    intent_probability: float
    probabilities: dict[str, float]


def text_of(subject: str, body: str) -> str:
    return f"{subject}\n{body}" if subject else body


def read_examples(path: Path | str, *, weight: float = 1.0) -> list[Example]:
    examples = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("label_fine") not in INTENT_FAMILY:
                raise ValueError(f"{path}:{number}: unknown label_fine {row.get('label_fine')!r}")
            examples.append(Example(subject=row.get("subject") or "", body=row["body"],
                                    label_fine=row["label_fine"],
                                    label_family=row.get("label_family") or INTENT_FAMILY[row["label_fine"]],
                                    weight=weight))
    return examples


def training_examples() -> list[Example]:
    return [example for name, weight in TRAINING_FILES.items()
            for example in read_examples(DATA_DIR / name, weight=weight)]


class IntentClassifier:
    def __init__(self, examples: Iterable[Example]):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        examples = list(examples)
        self.pipeline = make_pipeline(
            make_union(
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
            ),
            LogisticRegression(C=10, max_iter=3000),
        )
        self.pipeline.fit([text_of(e.subject, e.body) for e in examples], [e.label_fine for e in examples],
                          logisticregression__sample_weight=[e.weight for e in examples])
        self.classes = [str(c) for c in self.pipeline.classes_]
        self._lock = threading.Lock()

    def predict(self, subject: str, body: str) -> Prediction:
        with self._lock:  # scikit-learn estimators are not documented as thread-safe
            row = self.pipeline.predict_proba([text_of(subject, body)])[0]
        probabilities = {c: float(p) for c, p in zip(self.classes, row, strict=True)}
        intent = max(probabilities, key=probabilities.get)
        family = INTENT_FAMILY[intent]
        family_probability = sum(p for c, p in probabilities.items() if INTENT_FAMILY[c] == family)
        return Prediction(intent=intent, family=str(family), confidence=round(min(family_probability, 1.0), 4),
                          intent_probability=round(probabilities[intent], 4), probabilities=probabilities)


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _trained() -> IntentClassifier:
    return IntentClassifier(training_examples())


def get_classifier() -> IntentClassifier:
    with _lock, cpu_budget.excluded():  # two threads must not both train; training is not the node's work
        return _trained()
