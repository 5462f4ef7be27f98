"""Searches for a person's data: every text, JSON and bytea column of every table, every Redis
key and value, and the LangGraph checkpoint rows of a run (tests of erasure and retention)."""

from django.db import connection

from core.redis_client import get_redis
from inquiries.models import Run


def checkpoint_rows(run: Run) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM checkpoints WHERE thread_id = %(t)s)"
                       " + (SELECT count(*) FROM checkpoint_blobs WHERE thread_id = %(t)s)"
                       " + (SELECT count(*) FROM checkpoint_writes WHERE thread_id = %(t)s)", {"t": str(run.pk)})
        return cursor.fetchone()[0]


def database_mentions(needle: str) -> list[str]:
    """Every text, JSON and bytea column of every table in the public schema that holds `needle`
    (case-insensitive): LangGraph's and django-q2's tables included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = 'public' AND data_type IN "
                       "('text', 'character varying', 'json', 'jsonb', 'bytea') "
                       "AND table_name IN (SELECT table_name FROM information_schema.tables "
                       "WHERE table_schema = 'public' AND table_type = 'BASE TABLE')")
        found = []
        for table, column, data_type in cursor.fetchall():
            value = f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f"\"{column}\"::text"
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE position(%s in lower({value})) > 0',  # noqa: S608
                           [needle.lower()])
            if cursor.fetchone()[0]:
                found.append(f"{table}.{column}")
    return found


def _redis_values(redis, key) -> list:
    kind = redis.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "string":
        return [redis.get(key)]
    if kind == "list":
        return redis.lrange(key, 0, -1)
    if kind == "hash":
        return [item for pair in redis.hgetall(key).items() for item in pair]
    if kind == "set":
        return list(redis.smembers(key))
    if kind == "zset":
        return redis.zrange(key, 0, -1)
    return []


def redis_mentions(needle: str) -> list[str]:
    redis, found = get_redis(), []
    for key in redis.scan_iter(count=1000):
        values = [key, *_redis_values(redis, key)]
        text = " ".join(v.decode(errors="ignore") if isinstance(v, bytes) else str(v) for v in values)
        if needle.lower() in text.lower():
            found.append(key)
    return found
