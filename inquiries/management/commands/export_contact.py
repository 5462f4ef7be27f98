import json
from pathlib import Path

from django.core.management.base import BaseCommand

from inquiries import services


class Command(BaseCommand):
    help = "Write everything held about one person (an e-mail address) as one JSON document; audited."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--output", help="Write to this file instead of standard output.")

    def handle(self, *args, email: str, output: str | None = None, **options) -> None:
        document = services.contact_export(email=email, actor_label="command:export_contact")
        text = json.dumps(document, indent=2, ensure_ascii=False)
        if output:
            Path(output).write_text(text + "\n", encoding="utf-8")
            self.stdout.write(f"wrote {output}")
        else:
            self.stdout.write(text)
