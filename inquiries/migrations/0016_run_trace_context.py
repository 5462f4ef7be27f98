"""Run.trace_context: the trace context of the request that queued a run (core/tracing.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inquiries', '0015_webhooks'),
    ]

    operations = [
        migrations.AddField(
            model_name='run',
            name='trace_context',
            field=models.JSONField(blank=True, db_default=models.Value({}, output_field=models.JSONField()), default=dict, editable=False),
        ),
    ]
