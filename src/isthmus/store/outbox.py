"""Messages to partners that must arrive even if the partner or we go down meanwhile."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from isthmus.store.schema import OutboxRow
from isthmus.wire.clock import now_ms

#: Give up (and flag the message as dead for the operator) after this many attempts.
MAX_ATTEMPTS = 50
_MAX_BACKOFF_MS = 5 * 60 * 1000


class Outbox:
    """Enqueued in the same transaction as the state change it announces: every method
    runs in the caller's session, so the outbox holds no connection of its own."""

    def enqueue(
        self,
        session: Session,
        *,
        peer_node_id: str,
        address: str,
        method: str,
        path: str,
        body: dict[str, Any],
        signed: bool = True,
    ) -> int:
        stamp = now_ms()
        row = OutboxRow(
            peer_node_id=peer_node_id,
            address=address,
            method=method,
            path=path,
            body=json.dumps(body, sort_keys=True),
            signed=int(signed),
            attempts=0,
            next_attempt_at=stamp,
            created_at=stamp,
            dead=0,
        )
        session.add(row)
        session.flush()
        return int(row.id)

    def due(self, session: Session, *, limit: int = 20) -> Sequence[OutboxRow]:
        return session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.delivered_at.is_(None),
                OutboxRow.dead == 0,
                OutboxRow.next_attempt_at <= now_ms(),
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        ).all()

    def pending(self, session: Session) -> Sequence[OutboxRow]:
        return session.scalars(
            select(OutboxRow).where(OutboxRow.delivered_at.is_(None)).order_by(OutboxRow.id)
        ).all()

    def mark_delivered(self, session: Session, message_id: int) -> None:
        row = session.get(OutboxRow, message_id)
        if row is not None:
            row.attempts += 1
            row.delivered_at = now_ms()
            row.last_error = None

    def mark_failed(self, session: Session, message_id: int, error: str) -> OutboxRow | None:
        """Exponential backoff from 1 s to 5 min; dead after ``MAX_ATTEMPTS``."""
        row = session.get(OutboxRow, message_id)
        if row is None:
            return None
        row.attempts += 1
        row.last_error = error[:1000]
        row.next_attempt_at = now_ms() + min(1000 * 2 ** min(row.attempts, 20), _MAX_BACKOFF_MS)
        if row.attempts >= MAX_ATTEMPTS:
            row.dead = 1
        return row
