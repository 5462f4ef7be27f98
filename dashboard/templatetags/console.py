"""Filters of the console's templates: `{% load console %}`."""

from django import template

from dashboard.languages import language_name as _language_name

register = template.Library()


@register.filter
def language_name(code: str) -> str:
    return _language_name(code)
