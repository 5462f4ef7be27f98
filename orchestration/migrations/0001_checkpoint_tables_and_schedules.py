"""LangGraph's checkpoint tables (its own versioned setup) and the worker's schedules."""

from django.db import migrations


def checkpoint_tables(apps, schema_editor):
    from orchestration.checkpointer import conninfo, setup_tables

    setup_tables(conninfo(schema_editor.connection.alias))


def schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, schedule_type, minutes in (
        ("autoflow: reap runs", "orchestration.tasks.reap_runs", "I", 1),
        ("autoflow: prune checkpoints", "orchestration.tasks.prune_checkpoints", "H", None),
    ):
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": schedule_type, "minutes": minutes, "repeats": -1},
        )


def remove_schedules(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__startswith="autoflow: ").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        ("inquiries", "0003_partial_fk_indexes"),
    ]

    operations = [
        migrations.RunPython(checkpoint_tables, migrations.RunPython.noop),
        migrations.RunPython(schedules, remove_schedules),
    ]
