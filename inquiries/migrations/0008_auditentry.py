"""The audit log (AuditEntry), append-only like RunEvent (0002): the database itself refuses to
rewrite an entry. The one UPDATE allowed is Django's ON DELETE SET NULL of `actor_id` when a
user is deleted (`actor_label` keeps who acted)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


FORWARD = """
CREATE FUNCTION inquiries_auditentry_append_only() RETURNS trigger AS $$
BEGIN
    IF (NEW.id, NEW.created_at, NEW.actor_label, NEW.action, NEW.target, NEW.detail, NEW.ip, NEW.request_id)
        IS DISTINCT FROM
       (OLD.id, OLD.created_at, OLD.actor_label, OLD.action, OLD.target, OLD.detail, OLD.ip, OLD.request_id)
       OR (NEW.actor_id IS NOT NULL AND NEW.actor_id IS DISTINCT FROM OLD.actor_id)
    THEN
        RAISE EXCEPTION 'audit entries are append-only (entry %)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER inquiries_auditentry_append_only
    BEFORE UPDATE ON inquiries_auditentry
    FOR EACH ROW EXECUTE FUNCTION inquiries_auditentry_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS inquiries_auditentry_append_only ON inquiries_auditentry;
DROP FUNCTION IF EXISTS inquiries_auditentry_append_only();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('inquiries', '0007_apiclient_scopes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('actor_label', models.CharField(blank=True, help_text='Who acted ("user:alice", "api:admin-key"), kept if the user is deleted.', max_length=200)),
                ('action', models.CharField(choices=[('run_deleted', 'Run deleted'), ('inquiry_deleted', 'Inquiry without runs deleted'), ('login_locked_out', 'Sign-in locked out')], max_length=32)),
                ('target', models.CharField(blank=True, help_text='What it was done to: a run id, a username.', max_length=200)),
                ('detail', models.JSONField(blank=True, default=dict)),
                ('ip', models.GenericIPAddressField(blank=True, null=True, verbose_name='IP address')),
                ('request_id', models.CharField(blank=True, max_length=128)),
                ('actor', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'audit entry',
                'verbose_name_plural': 'audit log',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['created_at'], name='auditentry_created_idx'), models.Index(fields=['action', 'created_at'], name='auditentry_action_created_idx'), models.Index(fields=['target'], name='auditentry_target_idx'), models.Index(condition=models.Q(('actor__isnull', False)), fields=['actor'], name='auditentry_actor_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('action__in', ['run_deleted', 'inquiry_deleted', 'login_locked_out'])), name='auditentry_action_valid')],
            },
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
