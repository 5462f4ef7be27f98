"""RunEvent is an append-only audit log: the database itself refuses to rewrite a row.

The one UPDATE allowed is Django's ON DELETE SET NULL of `actor_id` when a user is deleted
(`actor_label` keeps who acted). Rows still go away with their run (DELETE is allowed).
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION inquiries_runevent_append_only() RETURNS trigger AS $$
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

CREATE TRIGGER inquiries_runevent_append_only
    BEFORE UPDATE ON inquiries_runevent
    FOR EACH ROW EXECUTE FUNCTION inquiries_runevent_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS inquiries_runevent_append_only ON inquiries_runevent;
DROP FUNCTION IF EXISTS inquiries_runevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("inquiries", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
