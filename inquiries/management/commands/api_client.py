"""Provision API clients from a script:

    python manage.py api_client create NAME [--scopes intake,read_own] [--rate-limit 600/m] [--notes ...]
    python manage.py api_client list [--json]
    python manage.py api_client revoke NAME

`create` prints the key once, on its own line (only its hash is stored); revoking takes effect
within seconds (the web tier caches a key's client for up to 10 s)."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from inquiries import services
from inquiries.models import ApiClient, ApiScope
from inquiries.models.intake import default_scopes


def _scopes(text: str) -> list[str]:
    scopes = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(scopes) - set(ApiScope.values))
    if unknown:
        raise CommandError(f"Unknown scope(s): {', '.join(unknown)}. Scopes: {', '.join(ApiScope.values)}.")
    return scopes


class Command(BaseCommand):
    help = "Create, list and revoke API clients (the keys integrators call the API with)."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = actions.add_parser("create", help="Create a client and print its key once.")
        create.add_argument("name")
        create.add_argument("--scopes", default=",".join(default_scopes()),
                            help=f"Comma-separated, of {', '.join(ApiScope.values)} (default: %(default)s).")
        create.add_argument("--rate-limit", default="", help="Overrides WEBHOOK_RATE_LIMIT, e.g. 600/m.")
        create.add_argument("--notes", default="")
        listing = actions.add_parser("list", help="List the clients (never their keys).")
        listing.add_argument("--json", action="store_true", dest="as_json", help="One JSON array, for scripts.")
        revoke = actions.add_parser("revoke", help="Revoke a client's key at once.")
        revoke.add_argument("name")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _create(self, *, name: str, scopes: str, rate_limit: str, notes: str, **_) -> None:
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(f"An API client named {name!r} exists already.")
        try:
            client, raw_key = services.api_client_create(name=name, scopes=_scopes(scopes), rate_limit=rate_limit,
                                                         notes=notes)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(f"Created {client.name} with scopes {','.join(client.scopes) or '(none)'}. "
                          "The key follows; it is shown only this once:")
        self.stdout.write(raw_key)

    def _list(self, *, as_json: bool = False, **_) -> None:
        rows = [{"name": c.name, "key_prefix": c.key_prefix, "scopes": c.scopes, "active": c.is_active,
                 "rate_limit": c.rate_limit, "last_used_at": c.last_used_at.isoformat() if c.last_used_at else None}
                for c in ApiClient.objects.order_by("name")]
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for row in rows:
            self.stdout.write(f"{row['name']}\t{row['key_prefix']}…\t{','.join(row['scopes']) or '-'}\t"
                              f"{'active' if row['active'] else 'revoked'}\tlast used {row['last_used_at'] or 'never'}")

    def _revoke(self, *, name: str, **_) -> None:
        client = ApiClient.objects.filter(name=name).first()
        if client is None:
            raise CommandError(f"No API client named {name!r}.")
        if not client.is_active:
            self.stdout.write(f"{name} was revoked already.")
            return
        services.api_client_set_active(client=client, active=False)
        self.stdout.write(f"Revoked {name}.")

