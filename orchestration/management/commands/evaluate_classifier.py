import json

from django.core.management.base import BaseCommand, CommandError

from orchestration.engines.classifier import read_examples, training_examples
from orchestration.engines.engine import Engine
from orchestration.engines.probe import probe_ollama
from orchestration.evaluation import evaluate, fit_temperature, holdout, leave_source_out


class Command(BaseCommand):
    help = (
        "Classify labelled inquiries (JSON lines with subject, body, label_fine, label_family, optionally "
        "source and split) and print accuracy, per-family precision/recall/F1, per-source accuracy, a "
        "reliability table with the expected calibration error, proposed confidence bands and the confusion "
        "matrix. The last line is JSON. By default the running engine answers; --holdout and "
        "--leave-source-out train fresh built-in classifiers that never saw the scored rows."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", nargs="?", help="the labelled rows (not needed with --fit-temperature)")
        parser.add_argument("--backend", choices=["builtin", "ollama"], default="builtin")
        parser.add_argument("--split", help="score only the file's rows with this split (e.g. test)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--holdout", action="store_true",
                          help="built-in only: train on the shipped training data without the scored rows")
        mode.add_argument("--leave-source-out", action="store_true",
                          help="built-in only: per source of the scored rows, train without that source")
        mode.add_argument("--fit-temperature", action="store_true",
                          help="print the temperature fitted on out-of-fold predictions of the training data")
        parser.add_argument("--no-rules", action="store_true",
                            help="with --holdout or --leave-source-out: leave the phrase rules out")

    def handle(self, *args, path: str | None, backend: str, split: str | None, **options) -> None:
        if options["fit_temperature"]:
            temperature = fit_temperature(training_examples())
            self.stdout.write(json.dumps({"temperature": temperature}))
            return
        if not path:
            raise CommandError("give the file of labelled rows to score")
        try:
            examples = read_examples(path, split=split)
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        if not examples:
            raise CommandError(f"no rows to score in {path}" + (f" with split {split!r}" if split else ""))
        retrain = options["holdout"] or options["leave_source_out"]
        if retrain and backend != "builtin":
            raise CommandError("--holdout and --leave-source-out train the built-in classifier")
        if options["no_rules"] and not retrain:
            raise CommandError("--no-rules needs --holdout or --leave-source-out")
        fallbacks = 0
        if retrain:
            protocol = leave_source_out if options["leave_source_out"] else holdout
            report = protocol(training_examples(), examples, rules=not options["no_rules"])
        else:
            if backend == "ollama":
                probe = probe_ollama(use_cache=False)
                if not (probe.reachable and probe.model_available):
                    raise CommandError(f"Ollama is not usable: {probe.error or 'unreachable'}")

            def predict(subject: str, body: str):
                nonlocal fallbacks
                # A fresh budget per inquiry: the run budget is not what is measured here.
                outcome = Engine(backend).classify(sender_name="", subject=subject, body=body)
                fallbacks += outcome.fallback
                return outcome.value

            report = evaluate(examples, predict)
        for line in report.lines():
            self.stdout.write(line)
        if fallbacks:
            self.stdout.write(f"\nwarning: {fallbacks} answer(s) came from the built-in fallback")
        self.stdout.write(json.dumps(report.summary()))


