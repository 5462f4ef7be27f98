"""Retention, erasure and export (docs/reliability.md, "Retention, erasure and export"): their
audit actions, the permissions of the admin actions, and the one way around RunEvent's
append-only trigger (0002): the erasure of a person (inquiries/services/privacy.py) sets
`autoflow.erasure` for its own transaction only (`set_config(..., true)`), and the trigger then
lets it blank the person's events' message and data. Everything else is still refused."""

from django.conf import settings
from django.db import migrations, models

ERASABLE = """
CREATE OR REPLACE FUNCTION inquiries_runevent_append_only() RETURNS trigger AS $$
BEGIN
    IF current_setting('autoflow.erasure', true) = 'on'
       AND (NEW.id, NEW.run_id, NEW.type, NEW.created_at) IS NOT DISTINCT FROM
           (OLD.id, OLD.run_id, OLD.type, OLD.created_at)
    THEN
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.run_id, NEW.type, NEW.message, NEW.data, NEW.actor_label, NEW.request_id, NEW.created_at)
        IS DISTINCT FROM
       (OLD.id, OLD.run_id, OLD.type, OLD.message, OLD.data, OLD.actor_label, OLD.request_id, OLD.created_at)
       OR (NEW.actor_id IS NOT NULL AND NEW.actor_id IS DISTINCT FROM OLD.actor_id)
    THEN
        RAISE EXCEPTION 'run events are append-only (event %)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION inquiries_runevent_append_only() RETURNS trigger AS $$
BEGIN
    IF (NEW.id, NEW.run_id, NEW.type, NEW.message, NEW.data, NEW.actor_label, NEW.request_id, NEW.created_at)
        IS DISTINCT FROM
       (OLD.id, OLD.run_id, OLD.type, OLD.message, OLD.data, OLD.actor_label, OLD.request_id, OLD.created_at)
       OR (NEW.actor_id IS NOT NULL AND NEW.actor_id IS DISTINCT FROM OLD.actor_id)
    THEN
        RAISE EXCEPTION 'run events are append-only (event %)', OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('inquiries', '0008_auditentry'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='contact',
            options={'ordering': ['email'], 'permissions': [('export_contact', 'Can export everything held about a contact'), ('erase_contact', 'Can erase a contact everywhere')]},
        ),
        migrations.RemoveConstraint(
            model_name='auditentry',
            name='auditentry_action_valid',
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.CharField(choices=[('run_deleted', 'Run deleted'), ('inquiry_deleted', 'Inquiry without runs deleted'), ('login_locked_out', 'Sign-in locked out'), ('retention_purge', 'Expired runs purged'), ('contact_erased', 'Contact erased'), ('contact_exported', 'Contact exported')], max_length=32),
        ),
        migrations.AddConstraint(
            model_name='auditentry',
            constraint=models.CheckConstraint(condition=models.Q(('action__in', ['run_deleted', 'inquiry_deleted', 'login_locked_out', 'retention_purge', 'contact_erased', 'contact_exported'])), name='auditentry_action_valid'),
        ),
        migrations.RunSQL(ERASABLE, APPEND_ONLY),
    ]
