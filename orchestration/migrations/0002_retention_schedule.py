"""The daily retention purge (orchestration/tasks.py `purge_expired`), scheduled like 0001's jobs."""

from django.db import migrations

NAME = "autoflow: purge expired"


def schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME, defaults={"func": "orchestration.tasks.purge_expired", "schedule_type": "D", "repeats": -1},
    )


def remove_schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("orchestration", "0001_checkpoint_tables_and_schedules")]

    operations = [migrations.RunPython(schedules, remove_schedules)]
