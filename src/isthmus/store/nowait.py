"""A no-wait SQLite connection, for the few statements the event loop may run itself.

A thread-pool hop costs more than the statements a signed request needs (on the shared
2-core benchmark machine about 0.1 ms idle and up to a millisecond under load, against
about 0.05 ms for the nonce insert). So the event loop runs them itself, on this
connection, **only when they cannot wait**: the connection's busy timeout is zero and it
never checkpoints (``wal_autocheckpoint=0``; the pooled connections do, the nonce prune
at least every minute), so a statement either runs at once, or fails at once with
``Busy`` and the caller takes the usual blocking path in the thread pool. Nothing here
weakens a transaction: each statement is its own transaction, committed when it
returns, with the same ``synchronous=NORMAL`` as the pooled connections.

Only for an SQLite database in a file: ``:memory:`` and URI names are other databases
per connection, and a server database (PostgreSQL) cannot answer without a round trip.
One caller at a time: a second thread arriving while it is in use gets ``Busy`` too.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, event


class Busy(Exception):
    """The statement would have had to wait (or the no-wait path is not available)."""


class NoWaitConnection:
    def __init__(self, engine: Engine) -> None:
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        usable = bool(database) and database != ":memory:" and not str(database).startswith("file:")
        self._database = database if usable else None
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False
        event.listen(engine, "engine_disposed", lambda _engine: self.close())

    @property
    def available(self) -> bool:
        return self._database is not None and not self._closed

    def _connect(self) -> sqlite3.Connection:
        assert self._database is not None
        connection = sqlite3.connect(
            self._database, timeout=0, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA busy_timeout=0")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA wal_autocheckpoint=0")
        return connection

    def execute(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one statement in autocommit and return its rows; ``Busy`` if it would
        wait. Other errors (``sqlite3.IntegrityError``) are the caller's."""
        if not self.available or not self._lock.acquire(blocking=False):
            raise Busy
        try:
            if self._connection is None:
                self._connection = self._connect()
            return self._connection.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError as exc:  # locked, busy, no table yet
            raise Busy from exc
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None
