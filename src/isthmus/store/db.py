"""Engine, sessions and migrations.

An SQLite database file is created owner-only (0600) before SQLite opens it: it holds
permit and session tokens, and SQLite creates its ``-wal`` and ``-shm`` files with the
database file's own permissions, so they are owner-only too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from isthmus.store.audit import AuditLog
from isthmus.store.components import ComponentRepository
from isthmus.store.contracts import ContractRepository
from isthmus.store.nonces import NonceCache
from isthmus.store.outbox import Outbox
from isthmus.store.permits import PermitRepository
from isthmus.store.tee_keys import TeeAccessKeyRepository

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _tune_sqlite(engine: Engine) -> None:
    """WAL lets readers run beside the single writer; the busy timeout makes writers
    queue instead of failing; foreign keys are off by default in SQLite."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


def create_private_sqlite(url: str) -> None:
    """Create the file of an SQLite ``url`` owner-only if it does not exist yet (an
    existing file keeps its mode: ``isthmus doctor`` reports one readable by others)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite URLs get the pragmas above and an owner-only file."""
    if url.startswith("sqlite"):
        create_private_sqlite(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class Store:
    """The node's database: one engine, one session factory, and the repositories."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.contracts = ContractRepository(self.session_factory)
        self.nonces = NonceCache(self.engine)
        self.audit = AuditLog(self.session_factory)
        self.outbox = Outbox()
        self.components = ComponentRepository()
        self.permits = PermitRepository()
        self.tee_keys = TeeAccessKeyRepository()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.session_factory.begin() as session:
            yield session

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision (idempotent)."""
        from alembic import command  # only at start: alembic costs ~0.3 s to import

        with self.engine.begin() as connection:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
            return None if row is None else str(row[0])

    def ping(self) -> bool:
        """True when the database answers a trivial query (for ``/readyz``)."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except Exception:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg
