from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InquiriesConfig(AppConfig):
    name = "inquiries"
    verbose_name = "Inquiries and runs"

    def ready(self) -> None:
        from .roles import ensure_role_groups

        # Permissions exist only after migrate, so the role groups are (re)built right after it.
        post_migrate.connect(ensure_role_groups, sender=self, dispatch_uid="inquiries.ensure_role_groups")
