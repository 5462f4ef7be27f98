"""`python manage.py runcluster`: AutoFlow's worker cluster (orchestration/runner/)."""

import os

# Forked workers must not inherit a BLAS thread pool started by the classifier's training.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from django.conf import settings  # noqa: E402
from django.core.management.base import BaseCommand  # noqa: E402


class Command(BaseCommand):
    help = ("Execute queued runs: Q_WORKERS processes, each with RUN_CONCURRENCY runs in flight. "
            "SIGTERM or Ctrl-C stops it gracefully.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--processes", type=int, default=settings.Q_CLUSTER["workers"],
                            help="worker processes (default: Q_WORKERS)")
        parser.add_argument("--concurrency", type=int, default=settings.RUN_CONCURRENCY,
                            help="runs in flight per process (default: RUN_CONCURRENCY)")

    def handle(self, *args, processes: int, concurrency: int, **options) -> None:
        from orchestration.runner.cluster import Cluster

        code = Cluster(processes=processes, concurrency=concurrency).run()
        if code:
            raise SystemExit(code)
