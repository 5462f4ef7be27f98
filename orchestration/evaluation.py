"""Scoring a classifier on labelled inquiries: accuracy (overall, per family, per source), the
confusion matrix, a reliability table with the expected calibration error, and proposed
confidence bands. Used by `manage.py evaluate_classifier` and by the tests.

Also the held-out protocols of the built-in classifier: `leave_source_out` (train without one
source, score that source: the proxy for inquiries unlike anything trained on) and
`fit_temperature` (the temperature that makes out-of-fold probabilities honest)."""

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from inquiries.models import INTENT_FAMILY, Family

from .engines import intent_rules
from .engines.classifier import Example, IntentClassifier, scaled, text_of

FAMILIES = [str(f) for f in Family.values]
# Reliability bins over the family confidence (never under 1/3 with three families).
BIN_EDGES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
BAND_CANDIDATES = tuple(round(0.40 + 0.05 * i, 2) for i in range(12))  # 0.40 … 0.95
HIGH_BAND_ACCURACY, LOW_BAND_ACCURACY = 0.95, 0.60


@dataclass
class Report:
    n: int = 0
    fine_correct: int = 0
    family_correct: int = 0
    confusion: Counter = field(default_factory=Counter)  # (true family, predicted family) -> count
    sources: Counter = field(default_factory=Counter)  # source -> rows
    sources_correct: Counter = field(default_factory=Counter)  # source -> rows routed to the right family
    scored: list[tuple[float, bool]] = field(default_factory=list)  # (family confidence, right family)

    @property
    def family_accuracy(self) -> float:
        return self.family_correct / self.n if self.n else 0.0

    @property
    def fine_accuracy(self) -> float:
        return self.fine_correct / self.n if self.n else 0.0

    def add(self, other: "Report") -> None:
        self.n += other.n
        self.fine_correct += other.fine_correct
        self.family_correct += other.family_correct
        self.confusion.update(other.confusion)
        self.sources.update(other.sources)
        self.sources_correct.update(other.sources_correct)
        self.scored += other.scored

    def per_family(self) -> dict[str, dict[str, float]]:
        scores = {}
        for family in FAMILIES:
            tp = self.confusion[(family, family)]
            predicted = sum(v for (t, p), v in self.confusion.items() if p == family)
            actual = sum(v for (t, p), v in self.confusion.items() if t == family)
            precision = tp / predicted if predicted else 0.0
            recall = tp / actual if actual else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            scores[family] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
        return scores

    def per_source(self) -> dict[str, float]:
        return {s: self.sources_correct[s] / n for s, n in sorted(self.sources.items())}

    def reliability(self) -> list[dict]:
        """Per confidence bin: rows, mean confidence, accuracy (bins without rows are left out)."""
        rows = []
        for low, high in zip(BIN_EDGES, BIN_EDGES[1:], strict=False):
            inside = [(c, ok) for c, ok in self.scored if low <= c < high or (high == 1.0 and c == 1.0)]
            if inside:
                rows.append({"low": low, "high": high, "n": len(inside),
                             "confidence": sum(c for c, _ in inside) / len(inside),
                             "accuracy": sum(ok for _, ok in inside) / len(inside)})
        return rows

    @property
    def ece(self) -> float:
        """Expected calibration error: the row-weighted gap between confidence and accuracy per bin."""
        if not self.scored:
            return 0.0
        return sum(r["n"] * abs(r["accuracy"] - r["confidence"]) for r in self.reliability()) / len(self.scored)

    def bands(self) -> dict[str, float | None]:
        """Proposed thresholds on the family confidence. `high`: the lowest one from which on the
        routes are right at least 95% of the time, in every 0.1-wide window above it too (so that
        a well-routed top bin does not carry a poor one under it). `low`: the highest one under
        which the routes are right less than 60% of the time. None: no such threshold in this data."""
        def accuracy(rows: list[bool]) -> float:
            return sum(rows) / len(rows)

        high = low = None
        for t in reversed(BAND_CANDIDATES):
            above = [ok for c, ok in self.scored if c >= t]
            window = [ok for c, ok in self.scored if t <= c < t + 0.1]
            if len(above) < 10 or accuracy(above) < HIGH_BAND_ACCURACY or (
                    len(window) >= 5 and accuracy(window) < HIGH_BAND_ACCURACY):
                break
            high = t
        for t in BAND_CANDIDATES:
            below = [ok for c, ok in self.scored if c < t]
            if len(below) >= 10 and accuracy(below) < LOW_BAND_ACCURACY:
                low = t
        return {"high": high, "low": low}

    def lines(self) -> list[str]:
        out = [f"inquiries: {self.n}", f"family accuracy: {self.family_accuracy:.3f}",
               f"fine accuracy:   {self.fine_accuracy:.3f}", "",
               f"{'family':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
        for family, s in self.per_family().items():
            out.append(f"{family:<10}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>10.3f}{s['support']:>10}")
        out += ["", f"{'source':<16}{'rows':>8}{'family accuracy':>18}"]
        for source, accuracy in self.per_source().items():
            out.append(f"{source or '(none)':<16}{self.sources[source]:>8}{accuracy:>18.3f}")
        if self.scored:
            out += ["", "reliability (family confidence)", f"{'bin':<12}{'rows':>8}{'confidence':>12}{'accuracy':>10}"]
            for r in self.reliability():
                out.append(f"{r['low']:.2f}-{r['high']:.2f}   {r['n']:>8}{r['confidence']:>12.3f}{r['accuracy']:>10.3f}")
            bands = self.bands()
            out += [f"expected calibration error: {self.ece:.3f}",
                    f"proposed bands: high >= {bands['high']}, low < {bands['low']} "
                    f"(high: right >= {HIGH_BAND_ACCURACY:.0%}, low: right < {LOW_BAND_ACCURACY:.0%})"]
        out += ["", "confusion (rows: true family, columns: predicted)",
                f"{'':<10}" + "".join(f"{f:>10}" for f in FAMILIES)]
        for true in FAMILIES:
            out.append(f"{true:<10}" + "".join(f"{self.confusion[(true, p)]:>10}" for p in FAMILIES))
        return out

    def summary(self) -> dict:
        return {"family_accuracy": round(self.family_accuracy, 4), "fine_accuracy": round(self.fine_accuracy, 4),
                "n": self.n, "ece": round(self.ece, 4) if self.scored else None,
                "per_source": {s: round(a, 4) for s, a in self.per_source().items()},
                "per_family_f1": {f: round(s["f1"], 4) for f, s in self.per_family().items()},
                "bands": self.bands()}


def evaluate(examples: list[Example], predict: Callable[[str, str], object]) -> Report:
    """`predict(subject, body)` returns a fine intent, or an object with `intent` and `confidence`
    (the family's probability) for the reliability table."""
    report = Report()
    for example in examples:
        answer = predict(example.subject, example.body)
        intent = answer if isinstance(answer, str) else answer.intent
        true_family = example.label_family or str(INTENT_FAMILY[example.label_fine])
        predicted_family = str(INTENT_FAMILY[intent])
        report.n += 1
        report.fine_correct += intent == example.label_fine
        report.family_correct += predicted_family == true_family
        report.confusion[(true_family, predicted_family)] += 1
        report.sources[example.source] += 1
        report.sources_correct[example.source] += predicted_family == true_family
        if not isinstance(answer, str) and getattr(answer, "confidence", None) is not None:
            report.scored.append((float(answer.confidence), predicted_family == true_family))
    return report


def _key(example: Example) -> tuple[str, str]:
    return (example.subject.strip().lower(), example.body.strip().lower())


def without(training: list[Example], scored: list[Example]) -> list[Example]:
    """The training examples, less any with the text of a scored one."""
    keys = {_key(e) for e in scored}
    return [e for e in training if _key(e) not in keys]


def holdout(training: list[Example], scored: list[Example], **classifier_options) -> Report:
    """Trained on `training` without the scored rows, then scored on them."""
    classifier = IntentClassifier(without(training, scored), **classifier_options)
    return evaluate(scored, classifier.predict)


def leave_source_out(training: list[Example], scored: list[Example], **classifier_options) -> Report:
    """Per source of the scored rows: trained without any row of that source, scored on its rows."""
    report = Report()
    for source in sorted({e.source for e in scored}):
        rows = [e for e in scored if e.source == source]
        kept = [e for e in without(training, rows) if e.source != source]
        report.add(holdout(kept, rows, **classifier_options))
    return report


def fit_temperature(training: list[Example], folds: int = 5, seed: int = 7) -> float:
    """The temperature minimising the log loss of the family on out-of-fold predictions
    (stratified by fine label, seeded), phrase rules included."""
    rng = random.Random(seed)
    fold_of: dict[int, int] = {}
    by_label: dict[str, list[int]] = {}
    for i, e in enumerate(training):
        by_label.setdefault(e.label_fine, []).append(i)
    for indices in by_label.values():
        rng.shuffle(indices)
        for k, i in enumerate(indices):
            fold_of[i] = k % folds
    outputs: list[tuple[dict[str, float], str, list]] = []
    for fold in range(folds):
        train = [e for i, e in enumerate(training) if fold_of[i] != fold]
        test = [e for i, e in enumerate(training) if fold_of[i] == fold]
        classifier = IntentClassifier(train)
        rows = classifier.raw_probabilities([text_of(e.subject, e.body) for e in test])
        for e, row in zip(test, rows, strict=True):
            raw = {c: float(p) for c, p in zip(classifier.classes, row, strict=True)}
            outputs.append((raw, e.label_family, intent_rules.matching(text_of(e.subject, e.body))))

    def loss(t: float) -> float:
        total = 0.0
        for raw, family, rules in outputs:
            p = intent_rules.apply(scaled(raw, t), rules)
            total -= math.log(max(sum(v for c, v in p.items() if INTENT_FAMILY[c] == family), 1e-12))
        return total / len(outputs)

    grid = [round(0.5 + 0.05 * i, 2) for i in range(51)]  # 0.5 … 3.0
    return min(grid, key=loss)
