"""Durable state of a node: SQLAlchemy 2 over SQLite (WAL, embedded default) or PostgreSQL.

Schema changes go through Alembic migrations only (``store/migrations``); the node runs
``upgrade head`` at start. Repositories here own their transactions, so callers in the
layers above never hold a session across an ``await``.
"""

from isthmus.store.db import Store

__all__ = ["Store"]
