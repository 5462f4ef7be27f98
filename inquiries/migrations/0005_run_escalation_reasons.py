"""`Run.escalation_reasons`: the escalation rules that fired, as {rule, detail} (`escalation_reason`
stays their joined text). Runs escalated before it get theirs from that text; the database default
keeps inserts of code that predates the column working during a rolling deploy."""

from django.db import migrations, models

BACKFILL = """
UPDATE inquiries_run SET escalation_reasons = (
    SELECT coalesce(jsonb_agg(CASE WHEN strpos(part, ':') > 0
        THEN jsonb_build_object('rule', btrim(split_part(part, ':', 1)),
                                'detail', btrim(substr(part, strpos(part, ':') + 1)))
        ELSE jsonb_build_object('rule', btrim(part), 'detail', '') END ORDER BY n), '[]'::jsonb)
    FROM unnest(string_to_array(escalation_reason, '; ')) WITH ORDINALITY AS p(part, n)
    WHERE btrim(part) <> ''
)
WHERE escalation_reason <> ''
"""


class Migration(migrations.Migration):

    dependencies = [
        ('inquiries', '0004_lease_guard'),
    ]

    operations = [
        migrations.AddField(
            model_name='run',
            name='escalation_reasons',
            field=models.JSONField(blank=True, default=list,
                                   db_default=models.Value([], output_field=models.JSONField())),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
