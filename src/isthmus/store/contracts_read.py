"""A contract's status by id, read without the ORM, for ``node/contract/query``.

A partner asks for its contract's status on every sync round and ``isthmus doctor`` uses
the same signed call as its ping, so the read is on a hot path. Through an ORM session
(begin, identity map, a mapped row with every column, commit, expunge) it cost about
0.5 ms against well under 0.1 ms for the query itself. Here the one ``SELECT`` of the
four columns the answer needs is compiled once per engine, in the engine's own dialect and
parameter style, and sent as plain driver SQL on a pooled connection (``status_of``) or,
from the event loop, on a no-wait connection (``status_now``, ``store.nowait``: a WAL
reader never waits for the writer, so it answers at once or raises ``Busy``). Either
reads the same committed row the ORM would (our own writes all go through sessions that
commit before they return), so the answer is exactly as fresh.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, select

from isthmus.store.nowait import Busy, NoWaitConnection
from isthmus.store.schema import ContractRow

__all__ = ["Busy", "ContractStatusReader", "ContractStatusRow", "status_reader"]


@dataclass(frozen=True)
class ContractStatusRow:
    """What a partner may learn of a contract: whose it is, its state, its expiry."""

    contract_id: str
    peer_node_id: str
    status: str
    expired_time: int | None


class ContractStatusReader:
    """``status_of(contract_id)``: one pooled connection, one precompiled ``SELECT``."""

    def __init__(self, engine: Engine) -> None:
        # Weakly: ``status_reader`` files readers under their engine in a weak mapping,
        # which a strong reference back to the engine would keep alive for ever.
        self._engine = weakref.ref(engine)
        statement = select(
            ContractRow.contract_id,
            ContractRow.peer_node_id,
            ContractRow.status,
            ContractRow.expired_time,
        ).where(ContractRow.contract_id == bindparam("contract_id"))
        compiled = statement.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._positional = compiled.positional
        self._nowait = NoWaitConnection(engine)

    def status_of(self, contract_id: str) -> ContractStatusRow | None:
        """Blocking (the thread pool), on a pooled connection."""
        parameters: object = (contract_id,) if self._positional else {"contract_id": contract_id}
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the store's engine is gone")
        with engine.connect() as connection:
            row = connection.exec_driver_sql(self._sql, parameters).first()  # type: ignore[arg-type]
        return None if row is None else _status_row(tuple(row))

    def status_now(self, contract_id: str) -> ContractStatusRow | None:
        """For the event loop: at once, or ``Busy`` (then ``status_of`` in a thread)."""
        if not self._positional:
            raise Busy
        rows = self._nowait.execute(self._sql, (contract_id,))
        return _status_row(rows[0]) if rows else None


def _status_row(row: tuple[Any, ...]) -> ContractStatusRow:
    return ContractStatusRow(str(row[0]), str(row[1]), str(row[2]), row[3])


_READERS: weakref.WeakKeyDictionary[Engine, ContractStatusReader] = weakref.WeakKeyDictionary()


def status_reader(engine: Engine) -> ContractStatusReader:
    """The reader of ``engine``'s database, made on first use and kept with the engine."""
    reader = _READERS.get(engine)
    if reader is None:
        reader = _READERS[engine] = ContractStatusReader(engine)
    return reader
