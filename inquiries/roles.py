"""The two console roles, as Django groups: operators act on runs, auditors only read."""

from django.contrib.auth.models import Group, Permission

OPERATORS = "operators"
AUDITORS = "auditors"

_READ_MODELS = [
    "inquiry", "run", "runstep", "runevent", "idempotencyrecord", "outboundemail",
    "contact", "leadscoreentry", "knowledgearticle", "productname", "apiclient", "auditentry",
    "webhooksubscription", "webhookdelivery", "webhookattempt",
]
_OPERATOR_EXTRA = [
    "change_run", "delete_run",
    "add_knowledgearticle", "change_knowledgearticle", "add_productname", "change_productname",
    "change_contact",
]


def ensure_role_groups(**kwargs) -> None:
    view = [f"view_{model}" for model in _READ_MODELS]
    wanted = {AUDITORS: view, OPERATORS: view + _OPERATOR_EXTRA}
    for name, codenames in wanted.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="inquiries", codename__in=codenames)
        group.permissions.set(perms)
