import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from inquiries.demo_data import KNOWLEDGE_BASE, PRODUCTS
from inquiries.models import KnowledgeArticle, ProductName
from inquiries.roles import OPERATORS, ensure_role_groups


class Command(BaseCommand):
    help = (
        "Load the demo knowledge base and product names, and create the demo operator account. Safe to run again: "
        "existing articles, product names and the existing account (and its password) are left as they are."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="operator")

    @transaction.atomic
    def handle(self, *args, username: str, **options) -> None:
        created = 0
        for article in KNOWLEDGE_BASE:
            _, was_created = KnowledgeArticle.objects.get_or_create(slug=article["slug"], defaults=article)
            created += was_created
        self.stdout.write(f"Knowledge base: {created} article(s) added, {len(KNOWLEDGE_BASE) - created} already there.")
        added = 0
        for name, aliases in PRODUCTS:
            _, was_created = ProductName.objects.get_or_create(name=name, defaults={"aliases": "\n".join(aliases)})
            added += was_created
        self.stdout.write(f"Product names: {added} added, {len(PRODUCTS) - added} already there.")

        ensure_role_groups()
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            self.stdout.write(
                f"Demo operator '{username}' already exists (password unchanged; "
                f"reset it with `python manage.py changepassword {username}`)."
            )
            return
        password = secrets.token_urlsafe(12)
        user = user_model.objects.create_user(username=username, password=password, is_staff=True)
        user.groups.add(Group.objects.get(name=OPERATORS))
        self.stdout.write(self.style.SUCCESS(
            f"Demo operator created. Sign in at /console/ as '{username}' with password: {password}\n"
            "This password is shown only once."
        ))
