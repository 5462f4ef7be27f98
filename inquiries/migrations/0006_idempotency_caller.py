"""`IdempotencyRecord.scope` is called `caller` in the code: it holds the caller's identity, and
"scope" meant other things elsewhere. The column keeps its name (`db_column`), so this migration
changes nothing in the database and code on either side of a deploy keeps working."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inquiries', '0005_run_escalation_reasons'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RenameField(model_name='idempotencyrecord', old_name='scope', new_name='caller'),
                migrations.AlterField(
                    model_name='idempotencyrecord',
                    name='caller',
                    field=models.CharField(db_column='scope', help_text='The caller the key belongs to.',
                                           max_length=200),
                ),
                # The same unique index on the same columns, now naming the field by its new name.
                migrations.RemoveConstraint(model_name='idempotencyrecord', name='idempotency_unique_scope_key'),
                migrations.AddConstraint(
                    model_name='idempotencyrecord',
                    constraint=models.UniqueConstraint(fields=('caller', 'key'), name='idempotency_unique_scope_key'),
                ),
            ],
        ),
    ]
