"""Durable state of a node: SQLAlchemy 2 over SQLite (WAL, embedded default) or PostgreSQL.

Schema changes go through Alembic migrations only (``store/migrations``); the node runs
``upgrade head`` at start.

Who owns a transaction: the caller. ``Store.session()`` is one transaction (committed
when the block ends, rolled back if it raises), and most repository methods take that
session, so a service can change several tables atomically. Three own theirs because
they stand alone: ``AuditLog.record`` and ``verify`` (an append to the chain, a read of
all of it), ``NonceCache`` (one insert that must commit before the request runs), and
the transport store (``store.transport``), whose single writer commits the queue
engine's batches. Callers never hold a session across an ``await``.
"""

from isthmus.store.db import Store

__all__ = ["Store"]
