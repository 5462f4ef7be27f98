"""A run's lease as a database guard: the runner sends each step of a run in one round trip, and
this function, the first statement of it, aborts the whole transaction when the worker no longer
holds the run (its lease was taken over), so a worker that was presumed dead can never write."""

from django.db import migrations

HOLD_LEASE = """
CREATE OR REPLACE FUNCTION autoflow_hold_lease(p_run uuid, p_owner text, p_attempt integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM inquiries_run
    WHERE id = p_run AND lease_owner = p_owner AND attempts = p_attempt AND status = 'running'
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % is not leased to %, attempt %', p_run, p_owner, p_attempt
            USING ERRCODE = 'AF001';
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("inquiries", "0003_partial_fk_indexes")]

    operations = [
        migrations.RunSQL(HOLD_LEASE, "DROP FUNCTION IF EXISTS autoflow_hold_lease(uuid, text, integer)"),
    ]
