import json

from django.core.management.base import BaseCommand, CommandError

from orchestration.engines.classifier import read_examples
from orchestration.engines.engine import Engine
from orchestration.engines.probe import probe_ollama
from orchestration.evaluation import evaluate


class Command(BaseCommand):
    help = (
        "Classify labelled inquiries (JSON lines with subject, body, label_fine, label_family) and print "
        "accuracy, per-family precision/recall/F1 and the confusion matrix. The last line is JSON."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument("--backend", choices=["builtin", "ollama"], default="builtin")

    def handle(self, *args, path: str, backend: str, **options) -> None:
        try:
            examples = read_examples(path)
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        if backend == "ollama":
            probe = probe_ollama(use_cache=False)
            if not (probe.reachable and probe.model_available):
                raise CommandError(f"Ollama is not usable: {probe.error or 'unreachable'}")
        fallbacks = 0

        def predict(subject: str, body: str) -> str:
            nonlocal fallbacks
            # A fresh budget per inquiry: the run budget is not what is measured here.
            outcome = Engine(backend).classify(sender_name="", subject=subject, body=body)
            fallbacks += outcome.fallback
            return outcome.value.intent

        report = evaluate(examples, predict)
        for line in report.lines():
            self.stdout.write(line)
        if fallbacks:
            self.stdout.write(f"\nwarning: {fallbacks} answer(s) came from the built-in fallback")
        self.stdout.write(json.dumps({"family_accuracy": round(report.family_accuracy, 4),
                                      "fine_accuracy": round(report.fine_accuracy, 4), "n": report.n}))
