"""Scoring a classifier on labelled inquiries: accuracy, per-family precision/recall/F1 and the
confusion matrix. Used by `manage.py evaluate_classifier` and by the tests."""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from inquiries.models import INTENT_FAMILY, Family

from .engines.classifier import Example

FAMILIES = [str(f) for f in Family.values]


@dataclass
class Report:
    n: int = 0
    fine_correct: int = 0
    family_correct: int = 0
    confusion: Counter = field(default_factory=Counter)  # (true family, predicted family) -> count

    @property
    def family_accuracy(self) -> float:
        return self.family_correct / self.n if self.n else 0.0

    @property
    def fine_accuracy(self) -> float:
        return self.fine_correct / self.n if self.n else 0.0

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

    def lines(self) -> list[str]:
        out = [f"inquiries: {self.n}", f"family accuracy: {self.family_accuracy:.3f}",
               f"fine accuracy:   {self.fine_accuracy:.3f}", "",
               f"{'family':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
        for family, s in self.per_family().items():
            out.append(f"{family:<10}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>10.3f}{s['support']:>10}")
        out += ["", "confusion (rows: true family, columns: predicted)",
                f"{'':<10}" + "".join(f"{f:>10}" for f in FAMILIES)]
        for true in FAMILIES:
            out.append(f"{true:<10}" + "".join(f"{self.confusion[(true, p)]:>10}" for p in FAMILIES))
        return out


def evaluate(examples: list[Example], predict: Callable[[str, str], str]) -> Report:
    """`predict(subject, body)` returns a fine intent."""
    report = Report()
    for example in examples:
        intent = predict(example.subject, example.body)
        true_family = example.label_family or str(INTENT_FAMILY[example.label_fine])
        predicted_family = str(INTENT_FAMILY[intent])
        report.n += 1
        report.fine_correct += intent == example.label_fine
        report.family_correct += predicted_family == true_family
        report.confusion[(true_family, predicted_family)] += 1
    return report
