"""Audit actions for sign-ins: sign_in (password or single sign-on) and sign_in_refused (dashboard/oidc.py)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inquiries', '0016_run_trace_context'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='auditentry',
            name='auditentry_action_valid',
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.CharField(choices=[('run_deleted', 'Run deleted'), ('inquiry_deleted', 'Inquiry without runs deleted'), ('login_locked_out', 'Sign-in locked out'), ('retention_purge', 'Expired runs purged'), ('contact_erased', 'Contact erased'), ('contact_exported', 'Contact exported'), ('sign_in', 'Signed in'), ('sign_in_refused', 'Sign-in refused')], max_length=32),
        ),
        migrations.AddConstraint(
            model_name='auditentry',
            constraint=models.CheckConstraint(condition=models.Q(('action__in', ['run_deleted', 'inquiry_deleted', 'login_locked_out', 'retention_purge', 'contact_erased', 'contact_exported', 'sign_in', 'sign_in_refused'])), name='auditentry_action_valid'),
        ),
    ]
