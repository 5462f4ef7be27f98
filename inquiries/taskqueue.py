"""django-q2's ORM queue (table `django_q_ormq`) as the runner uses it.

django-q2 stays the durable queue: intake writes a run's task with `async_task` in its own
transaction, and django-q2's scheduler queues the periodic tasks. Its `lock` column is the moment
a task may be handed out again. The runner (orchestration/runner/) takes tasks with these
statements instead of django-q2's pusher: as many as it has free slots, in one statement, and
keeps the tasks it holds locked with its heartbeat, so a task is handed out again only when the
worker that held it has stopped renewing it. Tasks go out oldest first: a task whose worker died
was queued before the backlog that arrived since, so its run is taken up as soon as it is free.

Queuing sends `NOTIFY autoflow_queue` in the same transaction: PostgreSQL delivers it at commit,
and an idle worker starts the run at once instead of at its next poll.
"""

import logging
from collections.abc import Sequence

from django.conf import settings
from django.db import connection
from django_q.signing import SignedPackage

logger = logging.getLogger(__name__)

QUEUE_CHANNEL = "autoflow_queue"
NOTIFY_SQL = f"SELECT pg_notify('{QUEUE_CHANNEL}', '')"

_TAKE_SQL = """
UPDATE django_q_ormq SET lock = now() + make_interval(secs => %s)
WHERE id IN (
    SELECT id FROM django_q_ormq WHERE key = %s AND lock < now()
    ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
)
RETURNING id, payload
"""


def queue_name() -> str:
    return settings.Q_CLUSTER["name"]


def notify() -> None:
    """Wake the idle workers once the current transaction commits (at once in autocommit)."""
    with connection.cursor() as cursor:
        cursor.execute(NOTIFY_SQL)


def take(*, limit: int, hold_seconds: float) -> list[tuple[int, dict]]:
    """Hand out up to `limit` tasks that nobody holds, locked for `hold_seconds`: (id, task)."""
    if limit <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_SQL, [hold_seconds, queue_name(), limit])
        rows = cursor.fetchall()
    taken = []
    for task_id, payload in sorted(rows):
        try:
            taken.append((task_id, SignedPackage.loads(payload)))
        except Exception:  # not signed with our key, or not a task: never executed, never retried
            logger.error("task %s in the queue is not a valid signed task; removed", task_id)
            ack(task_id)
    return taken


def hold(*, task_ids: Sequence[int], hold_seconds: float) -> None:
    """Keep the tasks a live worker holds from being handed out again (its heartbeat)."""
    if task_ids:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE django_q_ormq SET lock = now() + make_interval(secs => %s) WHERE id = ANY(%s)",
                           [hold_seconds, list(task_ids)])


def hold_until(*, task_id: int, until) -> None:
    """Keep a task back until a moment (the end of another worker's lease on its run)."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE django_q_ormq SET lock = %s + interval '100 milliseconds' WHERE id = %s",
                       [until, task_id])


def release(*, task_ids: Sequence[int]) -> None:
    """Hand tasks back at once (a worker stopping with runs unfinished)."""
    if task_ids:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE django_q_ormq SET lock = now() - interval '1 second' WHERE id = ANY(%s)",
                           [list(task_ids)])
            cursor.execute(NOTIFY_SQL)


def ack_statement(task_id: int | None) -> tuple[str, list] | None:
    """The statement that removes a finished task, to send with the change that finished it."""
    return ("DELETE FROM django_q_ormq WHERE id = %s", [task_id]) if task_id else None


def ack(task_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_q_ormq WHERE id = %s", [task_id])


def depth() -> int:
    """Tasks queued and not held by a worker."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_q_ormq WHERE key = %s AND lock < now()", [queue_name()])
        return cursor.fetchone()[0]
