"""System checks that refuse to run AutoFlow in production without its secrets and allowlists.

They run with every management command (migrate, qcluster, …) and when the ASGI and WSGI
applications are loaded (autoflow/asgi.py, autoflow/wsgi.py), so neither the web server nor the
worker starts with a bad configuration.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register

WEAK_SECRET_PREFIX = "django-insecure-"


@register(Tags.security)
def production_configuration(app_configs=None, **kwargs) -> list[Error]:
    if settings.APP_ENV != "production":
        return []
    errors: list[Error] = []

    def refuse(code: int, msg: str, hint: str) -> None:
        errors.append(Error(msg, hint=hint, id=f"autoflow.E{code:03d}"))

    if not settings.WEBHOOK_API_KEY:
        refuse(1, "WEBHOOK_API_KEY is not set.",
               "Inquiries hold personal data: set a long random key for the webhook and read API.")
    if not settings.AUTOFLOW_ADMIN_API_KEY:
        refuse(2, "AUTOFLOW_ADMIN_API_KEY is not set.", "Set a separate key for destructive API calls.")
    key = settings.SECRET_KEY or ""
    if key.startswith(WEAK_SECRET_PREFIX) or len(key) < 50 or len(set(key)) < 5:
        refuse(3, "DJANGO_SECRET_KEY is missing or weak.",
               "Set DJANGO_SECRET_KEY to at least 50 random characters "
               "(python -c 'import secrets; print(secrets.token_urlsafe(50))').")
    origins = settings.CORS_ORIGINS
    if not origins or "*" in origins:
        refuse(4, "CORS_ORIGINS must list the allowed origins explicitly in production.",
               "e.g. CORS_ORIGINS=https://crm.example.com,https://www.example.com")
    hosts = settings.ALLOWED_HOSTS
    if not hosts or "*" in hosts:
        refuse(5, "DJANGO_ALLOWED_HOSTS must list the served host names explicitly in production.",
               "e.g. DJANGO_ALLOWED_HOSTS=autoflow.example.com")
    if settings.DEBUG:
        refuse(6, "DJANGO_DEBUG is on in production.", "Unset DJANGO_DEBUG.")
    return errors


def refuse_to_start_on_errors() -> None:
    """Raise when the configuration fails a check; for entry points that skip Django's checks."""
    from django.core.checks import run_checks
    from django.core.exceptions import ImproperlyConfigured

    problems = [m for m in run_checks(include_deployment_checks=False) if m.is_serious()]
    if problems:
        raise ImproperlyConfigured(
            "AutoFlow refuses to start:\n" + "\n".join(f"  {m.id}: {m.msg} {m.hint or ''}" for m in problems)
        )


@register()
def retired_settings(app_configs=None, **kwargs) -> list[Error]:
    """A setting of an earlier version that no longer means anything is refused by name, rather
    than silently ignored: the operator who set it expects it to do something."""
    import os

    return [Error(f"{name} is no longer used: {why}.", hint=f"Remove {name} from the environment or .env.",
                  id="autoflow.E010")
            for name, why in settings.RETIRED_SETTINGS.items() if name in os.environ]
