"""LangGraph's PostgreSQL checkpointer on a psycopg pool of its own (one per worker process).

As the langgraph-checkpoint-postgres README asks: autocommit connections with dict rows; the pool
checks connections before use and recycles them, so a restarted PostgreSQL costs one failed
attempt, not a dead worker. Tables are created by this app's migration, not per run.
Checkpoints are read back with `LANGGRAPH_STRICT_MSGPACK=true` (set in the process environment by
manage.py, wsgi.py and asgi.py): only the types of our state may be loaded.
"""

import threading
from functools import lru_cache

import psycopg
from django.db import connections
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

_KEYS = ("dbname", "user", "password", "host", "port", "sslmode", "connect_timeout")
_lock = threading.Lock()


def conninfo(alias: str = "default") -> str:
    params = connections[alias].get_connection_params()
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if k in _KEYS and v})


@lru_cache(maxsize=1)
def _saver(dsn: str) -> PostgresSaver:
    pool = ConnectionPool(
        dsn, min_size=1, max_size=4, open=True, check=ConnectionPool.check_connection,
        max_idle=300, max_lifetime=1800, name="langgraph-checkpoints",
        kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": None},
    )
    return PostgresSaver(pool)


def get_checkpointer() -> PostgresSaver:
    with _lock:
        return _saver(conninfo())


def close_checkpointer() -> None:
    """Close the pool (tests, before their database is dropped; a worker at exit)."""
    with _lock:
        if _saver.cache_info().currsize:
            _saver(conninfo()).conn.close()
        _saver.cache_clear()


def setup_tables(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        PostgresSaver(conn).setup()


def delete_threads(thread_ids: list[str]) -> None:
    saver = get_checkpointer()
    for thread_id in thread_ids:
        saver.delete_thread(thread_id)
