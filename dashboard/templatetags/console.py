"""Filters of the console's templates: `{% load console %}`."""

from django import template

from dashboard.languages import language_name as _language_name

register = template.Library()


@register.filter
def language_name(code: str) -> str:
    return _language_name(code)


@register.simple_tag
def single_sign_on() -> dict:
    """`{% single_sign_on as sso %}`: whether the provider's button shows (sso.enabled), its
    name, and whether local passwords are refused (sso.only). Settings: autoflow/settings_oidc.py."""
    from django.conf import settings

    return {"enabled": settings.OIDC_ENABLED, "name": settings.OIDC_PROVIDER_NAME, "only": settings.OIDC_ONLY}
