import json

from django.core.management.base import BaseCommand, CommandError

from orchestration.engines.probe import probe_ollama
from orchestration.evaluation_gate import METRICS, evaluate, read_cases


class Command(BaseCommand):
    help = (
        "Run a golden set of inquiries through the workflow's nodes as a dry run (nothing is stored or "
        "sent) and score routing, escalation, language, sentiment and the reply. Prints a report and, "
        "last, one JSON line; exits non-zero when a score is under its --min-* threshold."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="golden set, JSON lines (docs/workflow.md, 'The evaluation gate')")
        parser.add_argument("--backend", choices=["builtin", "ollama"], default="builtin")
        for metric, meaning in METRICS.items():
            parser.add_argument(f"--min-{metric.replace('_', '-')}", type=float, default=None, metavar="RATE",
                                help=f"fail when '{meaning}' is under RATE (0-1)")

    def handle(self, *args, path: str, backend: str, **options) -> None:
        try:
            cases = read_cases(path)
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        if backend == "ollama":
            probe = probe_ollama(use_cache=False)
            if not (probe.reachable and probe.model_available):
                raise CommandError(f"Ollama is not usable: {probe.error or 'unreachable'}")
        report = evaluate(cases, backend)
        for line in report.lines():
            self.stdout.write(line)
        summary = report.summary()
        under = []
        for metric in METRICS:
            floor = options.get(f"min_{metric}")
            rate = report.rate(metric)
            if floor is not None and rate is not None and rate < floor:
                under.append(f"{metric} {rate:.3f} < {floor:.3f}")
        summary["passed"] = not under
        self.stdout.write(json.dumps(summary))
        if under:
            raise CommandError("under the gate: " + "; ".join(under))
