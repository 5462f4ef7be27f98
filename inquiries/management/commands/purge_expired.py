from django.core.management.base import BaseCommand

from inquiries import services


class Command(BaseCommand):
    help = (
        "Delete the runs that ended more than RETENTION_DAYS ago with everything that belongs to them "
        "(steps, events, e-mails, idempotency records, lead scores, checkpoints, Redis keys) and the "
        "inquiries and contacts left without runs. The worker does this daily; 0 keeps everything."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; change nothing.")
        parser.add_argument("--days", type=int, default=None, help="Override RETENTION_DAYS for this run.")

    def handle(self, *args, dry_run: bool = False, days: int | None = None, **options) -> None:
        counts = services.runs_purge_expired(days=days, dry_run=dry_run, actor_label="command:purge_expired")
        summary = ", ".join(f"{kind} {count}" for kind, count in counts.items())
        self.stdout.write(f"{'would remove' if dry_run else 'removed'}: {summary}")
