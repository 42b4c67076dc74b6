"""Replay protection: each (partner, nonce) pair is accepted once within its window."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from isthmus.store.schema import SeenNonceRow


class NonceCache:
    """Persisted, so a restart does not reopen the replay window."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def remember(self, source_node_id: str, nonce: str, expires_at: int) -> bool:
        """Record the nonce; False if it was already seen (the request is a replay).

        Uses its own transaction: the primary key makes the check-and-insert atomic even
        with several workers racing on the same replayed request.
        """
        statement = insert(SeenNonceRow).values(
            source_node_id=source_node_id, nonce=nonce, expires_at=expires_at
        )
        try:
            # Core, not the ORM: this runs on every east-west request.
            with self._engine.begin() as connection:
                connection.execute(statement)
        except IntegrityError:
            return False
        return True

    def prune(self, session: Session, now: int) -> int:
        """Forget nonces whose timestamps are outside the window anyway."""
        result = session.execute(delete(SeenNonceRow).where(SeenNonceRow.expires_at < now))
        return int(result.rowcount)  # type: ignore[attr-defined]
