"""Manage outbound webhook subscriptions from a script (docs/webhooks.md):

    python manage.py webhook_subscription create CLIENT URL --events run.completed,run.escalated
    python manage.py webhook_subscription list [--json]
    python manage.py webhook_subscription rotate ID [--overlap-hours 24]
    python manage.py webhook_subscription deactivate ID

`create` and `rotate` print the `whsec_` secret once, alone on stdout; during a rotation both the
new and the previous secret sign each request for `--overlap-hours`."""

import json

from django.core.management.base import BaseCommand, CommandError

from inquiries import services
from inquiries.models import ApiClient, WebhookEvent, WebhookSubscription
from inquiries.webhook_http import TargetRefused


class Command(BaseCommand):
    help = "Create, list, rotate the secret of and deactivate outbound webhook subscriptions."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,rotate,deactivate}")
        create = actions.add_parser("create", help="Subscribe an API client's URL; print the secret once.")
        create.add_argument("client", help="The API client's name.")
        create.add_argument("url")
        create.add_argument("--events", required=True, help=f"Comma-separated, of {', '.join(WebhookEvent.values)}.")
        listing = actions.add_parser("list", help="List the subscriptions (never their secrets).")
        listing.add_argument("--json", action="store_true", dest="as_json")
        rotate = actions.add_parser("rotate", help="A new secret (printed once); the old one signs too for a while.")
        rotate.add_argument("id", type=int)
        rotate.add_argument("--overlap-hours", type=float, default=24.0)
        deactivate = actions.add_parser("deactivate", help="Stop queuing deliveries for the subscription.")
        deactivate.add_argument("id", type=int)

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _subscription(self, pk: int) -> WebhookSubscription:
        subscription = WebhookSubscription.objects.filter(pk=pk).first()
        if subscription is None:
            raise CommandError(f"No webhook subscription {pk}.")
        return subscription

    def _create(self, *, client: str, url: str, events: str, **_) -> None:
        api_client = ApiClient.objects.filter(name=client).first()
        if api_client is None:
            raise CommandError(f"No API client named {client!r}.")
        try:
            subscription = services.webhook_subscription_create(client=api_client, url=url, events=events.split(","))
        except (TargetRefused, ValueError) as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Subscription {subscription.pk} created. Its signing secret follows; "
                          "it is shown only this once:")
        self.stdout.write(subscription.secret)

    def _list(self, *, as_json: bool = False, **_) -> None:
        rows = [{"id": s.pk, "client": s.api_client.name, "url": s.url, "events": s.events, "active": s.is_active,
                 "secret": s.masked_secret}
                for s in WebhookSubscription.objects.select_related("api_client").order_by("pk")]
        if as_json:
            self.stdout.write(json.dumps(rows))
            return
        for row in rows:
            self.stdout.write(f"{row['id']}\t{row['client']}\t{row['url']}\t{','.join(row['events'])}\t"
                              f"{'active' if row['active'] else 'inactive'}\t{row['secret']}")

    def _rotate(self, *, id: int, overlap_hours: float, **_) -> None:  # noqa: A002 (the argument's name)
        secret = services.webhook_subscription_rotate(subscription=self._subscription(id), overlap_hours=overlap_hours)
        self.stderr.write(f"New secret for subscription {id}; the previous one also signs for {overlap_hours:g} h:")
        self.stdout.write(secret)

    def _deactivate(self, *, id: int, **_) -> None:  # noqa: A002
        subscription = self._subscription(id)
        subscription.is_active = False
        subscription.save(update_fields=["is_active", "updated_at"])
        self.stderr.write(f"Subscription {id} deactivated.")
