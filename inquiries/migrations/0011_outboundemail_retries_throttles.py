"""Outbound e-mail: the `retrying` status, attempts and the next attempt's time (retries through
the queue), `automatic` (the throttles count these), and the index the per-recipient count uses
(inquiries/services/email.py)."""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inquiries', '0010_run_joined_escalation'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='outboundemail',
            name='outboundemail_status_valid',
        ),
        migrations.AddField(
            model_name='outboundemail',
            name='attempts',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='outboundemail',
            name='automatic',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='outboundemail',
            name='next_attempt_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='outboundemail',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('retrying', 'Failed for now; sent again soon'), ('failed', 'Failed')], default='pending', max_length=16),
        ),
        migrations.AddIndex(
            model_name='outboundemail',
            index=models.Index(django.db.models.functions.text.Lower('to'), models.F('created_at'), condition=models.Q(('automatic', True)), name='outboundemail_auto_to_idx'),
        ),
        migrations.AddConstraint(
            model_name='outboundemail',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'sent', 'retrying', 'failed'])), name='outboundemail_status_valid'),
        ),
    ]
