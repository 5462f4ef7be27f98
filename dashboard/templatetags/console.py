"""Filters of the console's templates: `{% load console %}`."""

from django import template

from dashboard.languages import language_name as _language_name

register = template.Library()


@register.filter
def language_name(code: str) -> str:
    return _language_name(code)


@register.filter
def percent(rate) -> str:
    """A rate in [0, 1] as a percentage with one decimal ("40.0%"); "—" when there is none."""
    return "—" if rate is None else f"{rate * 100:.1f}%"


@register.filter
def seconds(value) -> str:
    """A duration in seconds, readable: "42 s", "12.5 min", "3.2 h"; "—" when there is none."""
    if value is None:
        return "—"
    if value < 120:
        return f"{value:g} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


@register.simple_tag
def single_sign_on() -> dict:
    """`{% single_sign_on as sso %}`: whether the provider's button shows (sso.enabled), its
    name, and whether local passwords are refused (sso.only). Settings: autoflow/settings_oidc.py."""
    from django.conf import settings

    return {"enabled": settings.OIDC_ENABLED, "name": settings.OIDC_PROVIDER_NAME, "only": settings.OIDC_ONLY}
