"""LangGraph's PostgreSQL checkpointer, with the writes of a run carried by that run's own statements.

As the langgraph-checkpoint-postgres README asks: autocommit connections with dict rows; the pool
checks connections before use and recycles them, so a restarted PostgreSQL costs one failed
attempt, not a dead worker. Tables are created by this app's migration, not per run.
Checkpoints are read back with `LANGGRAPH_STRICT_MSGPACK=true` (set in the process environment by
the settings): only the types of our state may be loaded.

While a run executes (`carry`), the saver does not write its checkpoints itself. `put` and
`put_writes` record their statements, and the runner sends them in the same round trip and the same
transaction as the run's next step (inquiries/services/runs.py `run_step_record`,
`run_finish_under_lease`). With
durability `sync` LangGraph hands a checkpoint over before the next node starts, so each node's
statement commits the checkpoint of the node before it. A crash loses at most the newest
checkpoint, and that node's step row (committed by the node itself) replays its result on resume.
On a first attempt there is no checkpoint to read, so none is asked for.
"""

import contextlib
import contextvars
import re
import threading
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import psycopg
from django.db import connections
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

_VALUES = re.compile(r"\((?:%s,\s*)*%s\)")
_KEYS = ("dbname", "user", "password", "host", "port", "sslmode", "connect_timeout")
_lock = threading.Lock()
# The statement list that `put`/`put_writes` record into, in the thread that calls them.
_recording: contextvars.ContextVar[list | None] = contextvars.ContextVar("checkpoint_recording", default=None)


class _RecordingCursor:
    """Stands in for the saver's cursor: keeps (sql, params) instead of executing them."""

    def __init__(self, statements: list) -> None:
        self.statements = statements

    def execute(self, query, params=None) -> None:
        self.statements.append((query, params))

    def executemany(self, query, params_seq) -> None:
        self.statements.extend((query, params) for params in params_seq)


class CarriedPostgresSaver(PostgresSaver):
    """A PostgresSaver whose writes for the runs under `carry` wait to be sent by the runner."""

    def __init__(self, conn, **kwargs) -> None:
        super().__init__(conn, **kwargs)
        self._pending: dict[str, list] = {}
        self._fresh: set[str] = set()
        self._pending_lock = threading.Lock()

    @contextlib.contextmanager
    def carry(self, thread_id: str, *, fresh: bool) -> Iterator[None]:
        """While the block runs, the thread's checkpoint writes are kept for `take`. `fresh`: the
        thread has no checkpoint yet (a first attempt), so reading one is skipped."""
        with self._pending_lock:
            self._pending[thread_id] = []
            if fresh:
                self._fresh.add(thread_id)
        try:
            yield
        finally:
            with self._pending_lock:
                self._pending.pop(thread_id, None)
                self._fresh.discard(thread_id)

    def take(self, thread_id: str) -> list[tuple[str, Any]]:
        """The statements recorded for the thread since the last `take`, the rows of each kind
        merged into one multi-row INSERT (a superstep writes a row per channel)."""
        with self._pending_lock:
            statements = self._pending.get(thread_id)
            if not statements:
                return []
            self._pending[thread_id] = []
        return self._merged(statements)

    def _merged(self, statements: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        # For an upsert, a later row replaces an earlier one with the same key (one INSERT may not
        # update a row twice); DO NOTHING keeps the first, as executing them in turn would.
        keys = {self.UPSERT_CHECKPOINTS_SQL: (0, 1, 2), self.UPSERT_CHECKPOINT_WRITES_SQL: (0, 1, 2, 3, 5)}
        rows: dict[str, dict] = {}
        for sql, params in statements:
            kind = rows.setdefault(sql, {})
            key = tuple(params[i] for i in keys[sql]) if sql in keys else len(kind)
            if sql in keys:
                kind.pop(key, None)
            kind[key] = params
        merged = []
        for sql, kind in rows.items():
            found = _VALUES.search(sql)
            if found is None or len(kind) == 1:
                merged += [(sql, params) for params in kind.values()]
                continue
            values = ", ".join([found.group(0)] * len(kind))
            merged.append((sql[:found.start()] + values + sql[found.end():],
                           [value for params in kind.values() for value in params]))
        return merged

    def _record(self, config, write, *args):
        thread_id = str(config["configurable"]["thread_id"])
        with self._pending_lock:
            carried = thread_id in self._pending
        if not carried:
            return write(config, *args)
        statements: list = []
        token = _recording.set(statements)
        try:
            result = write(config, *args)
        finally:
            _recording.reset(token)
        with self._pending_lock:
            if thread_id in self._pending:
                self._pending[thread_id].extend(statements)
                self._fresh.discard(thread_id)
                return result
        # The run ended while LangGraph was still saving (an exception unwinding): write it now.
        return write(config, *args)

    def put(self, config, checkpoint, metadata, new_versions):
        return self._record(config, super().put, checkpoint, metadata, new_versions)

    def put_writes(self, config, writes, task_id, task_path=""):
        return self._record(config, super().put_writes, writes, task_id, task_path)

    def get_tuple(self, config):
        with self._pending_lock:
            if str(config["configurable"]["thread_id"]) in self._fresh:
                return None
        return super().get_tuple(config)

    @contextlib.contextmanager
    def _cursor(self, *, pipeline: bool = False):
        statements = _recording.get()
        if statements is not None:
            yield _RecordingCursor(statements)
            return
        with super()._cursor(pipeline=pipeline) as cursor:
            yield cursor


def conninfo(alias: str = "default") -> str:
    params = connections[alias].get_connection_params()
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if k in _KEYS and v})


@lru_cache(maxsize=1)
def _saver(dsn: str) -> CarriedPostgresSaver:
    pool = ConnectionPool(
        dsn, min_size=1, max_size=4, open=True, check=ConnectionPool.check_connection,
        max_idle=300, max_lifetime=1800, name="langgraph-checkpoints",
        kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": None},
    )
    return CarriedPostgresSaver(pool)


def get_checkpointer() -> CarriedPostgresSaver:
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
