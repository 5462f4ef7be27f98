"""Raw SQL that cannot drift from the models, sent pipelined: what the service modules whose
writes go out as one round trip (intake, the lease, a run's steps, CRM, e-mail) share."""

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from django.db import connection, models
from django.utils import timezone

from core.request_id import get_request_id
from inquiries.models import Run, RunEvent, RunEventType

Statement = tuple[str, Any]


def send(statements: Sequence[Statement], *,
         refused: Callable[[psycopg.Error], Exception | None] | None = None) -> list[list[tuple] | None]:
    """Execute `statements` in order, in one round trip and one transaction (psycopg's pipeline:
    everything up to its sync is one implicit transaction); the rows each returned, or None.
    `refused(error)` may turn a database error into an exception of the caller's (the lease
    guard's refusal into `LeaseLost`); otherwise the error is raised as Django's."""
    with connection.wrap_database_errors:
        connection.ensure_connection()
        raw = connection.connection
        cursors = []
        try:
            with raw.pipeline():
                for sql, params in statements:
                    cursor = psycopg.Cursor(raw)
                    cursor.execute(sql, params)
                    cursors.append(cursor)
        except psycopg.Error as exc:
            mapped = refused(exc) if refused is not None else None
            if mapped is not None:
                raise mapped from None
            raise
        return [cursor.fetchall() if cursor.description else None for cursor in cursors]


def insert_parts(instance, *, skip: tuple[str, ...] = ()) -> tuple[tuple[str, ...], list[Any]]:
    """Columns and database values of an unsaved instance, exactly as Django's INSERT would
    compute them (defaults, auto_now, JSON adaptation), so raw SQL cannot drift from the models."""
    fields = [
        f for f in instance._meta.concrete_fields
        if not f.generated and f.name not in skip and not (f.primary_key and isinstance(f, models.AutoField))
    ]
    columns = tuple(connection.ops.quote_name(f.column) for f in fields)
    values = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    return columns, values


def marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def insert(instance, *, returning: str = "", on_conflict: str = "") -> Statement:
    """INSERT of an unsaved instance; `on_conflict`: e.g. `(run_id, kind) DO NOTHING`."""
    columns, values = insert_parts(instance)
    sql = (f"INSERT INTO {instance._meta.db_table} ({', '.join(columns)}) VALUES ({marks(len(values))})"
           + (f" ON CONFLICT {on_conflict}" if on_conflict else "") + (f" RETURNING {returning}" if returning else ""))
    return sql, values


def update_run(run_id, values: dict[str, Any], *, extra: str = "") -> Statement:
    fields = [Run._meta.get_field(name) for name in values]  # names or attnames (`joined_escalation_id`)
    sets = [f"{connection.ops.quote_name(f.column)} = %s" for f in fields]
    params = [f.get_db_prep_save(value, connection) for f, value in zip(fields, values.values(), strict=True)]
    return f"UPDATE inquiries_run SET {', '.join(sets + ([extra] if extra else []))} WHERE id = %s", [*params, run_id]


def from_row(model, row: dict[str, Any]):
    """A model instance from a raw row (column → value), JSON columns decoded as the ORM would."""
    names, values = [], []
    for f in model._meta.concrete_fields:
        value = row[f.column]
        if hasattr(f, "from_db_value"):
            value = f.from_db_value(value, None, connection)
        names.append(f.attname)
        values.append(value)
    return model.from_db(connection.alias, names, values)


def rows(cursor_rows: list[tuple] | None, columns: list[str]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in cursor_rows or []]


def columns(model) -> list[str]:
    return [f.column for f in model._meta.concrete_fields]


def event(run_id, type: RunEventType, message: str, data: dict | None = None, *, at=None,
          actor_label: str = "system") -> RunEvent:
    """An unsaved run event, for `insert`."""
    return RunEvent(run_id=run_id, type=type, message=message[:500], data=data or {}, actor_label=actor_label,
                    request_id=get_request_id() or "", created_at=at or timezone.now())
