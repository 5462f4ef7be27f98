"""The one statement intake stores an inquiry with (intake.py)."""

from functools import lru_cache

from inquiries import taskqueue

from ._pipeline import marks


@lru_cache(maxsize=4)
def intake_sql(*, claim: tuple[str, ...] | None, inquiry: tuple[str, ...], run: tuple[str, ...],
               event: tuple[str, ...]) -> str:
    """One statement that claims the key (or takes over an expired claim), stores the inquiry and
    the run only if the claim succeeded, and their two first events; it returns 1 if it stored.
    The arguments are the column names of each table's row."""
    def cols(names: tuple[str, ...]) -> str:
        return ", ".join(names)

    parts = []
    guard = ""
    if claim is not None:
        parts.append(
            f"claim AS (INSERT INTO inquiries_idempotencyrecord ({cols(claim)}) VALUES ({marks(len(claim))}) "
            "ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, run_id = EXCLUDED.run_id, "
            "created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at "
            "WHERE inquiries_idempotencyrecord.expires_at <= EXCLUDED.created_at RETURNING 1)"
        )
        guard = " WHERE EXISTS (SELECT 1 FROM claim)"
    parts.append(f"inq AS (INSERT INTO inquiries_inquiry ({cols(inquiry)}) SELECT {marks(len(inquiry))}{guard} "
                 "RETURNING id)")
    parts.append(f'r AS (INSERT INTO inquiries_run ({cols(run)}, "inquiry_id") SELECT {marks(len(run))}, inq.id '
                 "FROM inq RETURNING id)")
    # One multi-row VALUES keeps the events' order (sibling CTEs run in no set order). It needs no
    # guard: when the claim fails the caller rolls the whole transaction back.
    parts.append(f"ev AS (INSERT INTO inquiries_runevent ({cols(event)}) VALUES ({marks(len(event))}), "
                 f"({marks(len(event))}))")
    # The notification wakes an idle worker when (and only if) this transaction commits.
    return "WITH " + ", ".join(parts) + f" SELECT (SELECT count(*) FROM r), pg_notify('{taskqueue.QUEUE_CHANNEL}', '')"
