"""What the models share: timestamps, and a constraint that keeps a column inside its choices."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


def in_choices(field: str, choices: type[models.TextChoices], *, blank: bool = False) -> Q:
    condition = Q(**{f"{field}__in": choices.values})
    return condition | Q(**{field: ""}) if blank else condition


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
