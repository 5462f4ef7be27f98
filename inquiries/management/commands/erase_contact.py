from django.core.management.base import BaseCommand, CommandError

from inquiries import services
from inquiries.errors import ActionRefused


class Command(BaseCommand):
    help = (
        "Erase one person (an e-mail address) everywhere: inquiries, the texts of their runs, steps, "
        "events, e-mails, contact, lead scores, idempotency records, checkpoints and Redis keys. Run "
        "ids, times, statuses and intents stay for the audit; the erasure is audited with a keyed hash."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email: str, **options) -> None:
        try:
            counts = services.contact_erase(email=email, actor_label="command:erase_contact")
        except ActionRefused as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write("erased: " + ", ".join(f"{kind} {count}" for kind, count in counts.items()))
