from django.contrib.auth.decorators import user_passes_test

from inquiries.roles import AUDITORS, OPERATORS


def is_console_user(user) -> bool:
    """Operators, auditors and superusers may use the console."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name__in=[OPERATORS, AUDITORS]).exists()


console_required = user_passes_test(is_console_user)


def is_operator(user) -> bool:
    """Operators act on runs; auditors only read."""
    return user.is_authenticated and user.is_active and (
        user.is_superuser or user.groups.filter(name=OPERATORS).exists())
