"""Node contracts: who we trust, with which key, until when."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, sessionmaker

from isthmus.store.schema import ContractRow
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import NotFound, StateConflict
from isthmus.wire.node import ContractStatus

_CHANGED = "isthmus.contracts.changed"
ACTIVE = (ContractStatus.APPLIED.value, ContractStatus.APPROVED.value)


class ContractRepository:
    """Contract rows. Every method runs inside the caller's transaction, so a state change,
    its audit entry and the message that tells the partner commit together or not at all.

    ``version`` counts committed contract changes made through this process. Readers
    that cache contracts (request authentication does, on every east-west request) take
    the version *before* they read and drop the cache when it moves; it moves only after
    the writing transaction has committed, so no reader can cache a row older than the
    version it files it under.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        """Listens on ``sessions`` (the store's session factory) for commits; keeps no
        reference to it otherwise."""
        self.version = 0
        event.listen(sessions, "after_commit", self._after_commit)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_CHANGED, False):
            self.version += 1

    @staticmethod
    def _changed(session: Session) -> None:
        session.info[_CHANGED] = True

    def add(self, session: Session, **fields: Any) -> ContractRow:
        stamp = now_ms()
        row = ContractRow(created_at=stamp, updated_at=stamp, **fields)
        self._changed(session)
        session.add(row)
        session.flush()
        return row

    def get(self, session: Session, contract_id: str) -> ContractRow | None:
        return session.get(ContractRow, contract_id)

    def require(self, session: Session, contract_id: str) -> ContractRow:
        row = self.get(session, contract_id)
        if row is None:
            raise NotFound(f"no contract {contract_id!r}", details={"contract_id": contract_id})
        return row

    def active_for_peer(self, session: Session, peer_node_id: str) -> ContractRow | None:
        """The partner's APPLIED or APPROVED contract, APPROVED first."""
        rows = session.scalars(
            select(ContractRow)
            .where(ContractRow.peer_node_id == peer_node_id, ContractRow.status.in_(ACTIVE))
            .order_by(ContractRow.updated_at.desc())
        ).all()
        approved = [r for r in rows if r.status == ContractStatus.APPROVED]
        candidates = approved or list(rows)
        return candidates[0] if candidates else None

    def latest_for_peer(self, session: Session, peer_node_id: str) -> ContractRow | None:
        """The contract that decides how a partner's request is treated: its active one,
        else the most recent of any status (so a terminated partner is told so)."""
        active = self.active_for_peer(session, peer_node_id)
        if active is not None:
            return active
        return session.scalars(
            select(ContractRow)
            .where(ContractRow.peer_node_id == peer_node_id)
            .order_by(ContractRow.updated_at.desc())
            .limit(1)
        ).first()

    def list(
        self, session: Session, *, status: str | None = None, peer_node_id: str | None = None
    ) -> Sequence[ContractRow]:
        query = select(ContractRow).order_by(ContractRow.created_at)
        if status:
            query = query.where(ContractRow.status == status)
        if peer_node_id:
            query = query.where(ContractRow.peer_node_id == peer_node_id)
        return session.scalars(query).all()

    def transition(
        self,
        session: Session,
        contract_id: str,
        *,
        allowed_from: tuple[str, ...],
        to: ContractStatus,
        **fields: Any,
    ) -> ContractRow:
        """Move a contract to ``to`` if, and only if, it is in one of ``allowed_from``.

        A conditional UPDATE rather than read-then-write: two operators (or an operator and
        a partner's terminate) racing on the same contract cannot both win.
        """
        self._changed(session)
        result = session.execute(
            update(ContractRow)
            .where(ContractRow.contract_id == contract_id, ContractRow.status.in_(allowed_from))
            .values(status=to.value, updated_at=now_ms(), **fields)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            row = self.require(session, contract_id)
            raise StateConflict(
                f"contract {contract_id} is {row.status}; cannot become {to.value}",
                details={"contract_id": contract_id, "status": row.status},
            )
        row = self.require(session, contract_id)
        session.refresh(row)
        return row

    def update_fields(self, session: Session, contract_id: str, **fields: Any) -> ContractRow:
        row = self.require(session, contract_id)
        self._changed(session)
        for key, value in fields.items():
            setattr(row, key, value)
        row.updated_at = now_ms()
        session.flush()
        return row
