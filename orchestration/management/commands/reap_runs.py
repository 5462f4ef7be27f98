from django.core.management.base import BaseCommand

from orchestration.tasks import reap_runs


class Command(BaseCommand):
    help = (
        "Queue again the runs whose worker lease expired (or that waited in the queue too long) and "
        "end those out of attempts. The worker runs this every minute; run it by hand after an outage."
    )

    def handle(self, *args, **options) -> None:
        counts = reap_runs()
        self.stdout.write(f"requeued {counts['requeued']}, ended {counts['failed']}")
