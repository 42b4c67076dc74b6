"""Durable queues of the transport module.

Two queues per node, both in the store so that a message accepted with an OK code
survives a crash of either node:

* **out**: messages local components pushed, each with a sequence number per
  (session, partner) stream, kept until the partner node has stored them;
* **in**: messages partners delivered, kept until a local component pops them. A unique
  (session, source, seq) index turns every resend into a no-op, so delivery is
  exactly-once although the east-west hop is at-least-once.

Messages larger than the east-west limit travel as numbered fragments and become one
``in`` row, atomically, when the last fragment arrives.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from isthmus.store.db import now_ms
from isthmus.store.schema import (
    TransportFragmentRow,
    TransportInRow,
    TransportOutRow,
    TransportSessionRow,
    TransportStreamRow,
)
from isthmus.wire.errors import TransportRefused
from isthmus.wire.ptp import PtpCode

if TYPE_CHECKING:
    from isthmus.store.db import Store

OPEN, RELEASED = "OPEN", "RELEASED"


@dataclass(frozen=True)
class QueueLimits:
    """Per-session bounds; past them a push is answered E0000000700 (retry later)."""

    max_message_bytes: int = 64 * 1024 * 1024
    max_session_messages: int = 100_000
    max_session_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True)
class OutMessage:
    id: int
    session_id: str
    peer_node_id: str
    topic: str
    seq: int
    payload: bytes


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TransportStore:
    def __init__(self, store: Store, limits: QueueLimits | None = None) -> None:
        self._store = store
        self.limits = limits or QueueLimits()

    # --- sessions -------------------------------------------------------------------

    def open_session(self, session_id: str, token: str) -> bool:
        """Register a session; False if it already existed (then the token must match)."""
        stamp = now_ms()
        with self._store.session() as s:
            row = s.get(TransportSessionRow, session_id)
            if row is not None:
                if not hmac.compare_digest(row.token_sha256, token_digest(token)):
                    raise TransportRefused(
                        PtpCode.UNAUTHORIZED, f"session {session_id} exists with another token"
                    )
                return False
            s.add(
                TransportSessionRow(
                    session_id=session_id,
                    token_sha256=token_digest(token),
                    state=OPEN,
                    created_at=stamp,
                    last_activity_at=stamp,
                    out_count=0,
                    out_bytes=0,
                    in_count=0,
                    in_bytes=0,
                )
            )
        return True

    def check_session(self, s: Session, session_id: str, token: str | None) -> TransportSessionRow:
        """The open session, or a refusal: unknown (404), released (608), bad token (403).

        ``token`` None skips the token check (east-west: the partner node is
        authenticated by its signature instead)."""
        row = s.get(TransportSessionRow, session_id)
        if row is None:
            raise TransportRefused(PtpCode.NOT_FOUND, f"unknown session {session_id!r}")
        if row.state == RELEASED:
            raise TransportRefused(PtpCode.SESSION_RELEASED, f"session {session_id} was released")
        if token is not None and not hmac.compare_digest(row.token_sha256, token_digest(token)):
            raise TransportRefused(PtpCode.UNAUTHORIZED, f"wrong token for session {session_id}")
        return row

    def release(self, session_id: str, token: str | None, topic: str | None = None) -> int:
        """Release a whole session (its unread data is dropped and later pushes refused),
        or only one topic's unread data. Returns how many messages were dropped."""
        with self._store.session() as s:
            row = self.check_session(s, session_id, token)
            in_filter = [TransportInRow.session_id == session_id]
            if topic:
                in_filter.append(TransportInRow.topic == topic)
            dropped_in = s.execute(
                select(
                    func.count(), func.coalesce(func.sum(func.length(TransportInRow.payload)), 0)
                ).where(*in_filter)
            ).one()
            s.execute(delete(TransportInRow).where(*in_filter))
            row.in_count -= int(dropped_in[0])
            row.in_bytes -= int(dropped_in[1])
            dropped = int(dropped_in[0])
            if topic is None:
                row.state = RELEASED
                row.released_at = now_ms()
                s.execute(
                    delete(TransportFragmentRow).where(
                        TransportFragmentRow.session_id == session_id
                    )
                )
            row.last_activity_at = now_ms()
            return dropped

    def expire_idle(self, idle_ms: int) -> list[str]:
        """Release sessions nobody used for ``idle_ms``; returns their ids."""
        cutoff = now_ms() - idle_ms
        with self._store.session() as s:
            ids = list(
                s.scalars(
                    select(TransportSessionRow.session_id).where(
                        TransportSessionRow.state == OPEN,
                        TransportSessionRow.last_activity_at < cutoff,
                    )
                )
            )
            for session_id in ids:
                s.execute(delete(TransportInRow).where(TransportInRow.session_id == session_id))
                s.execute(delete(TransportOutRow).where(TransportOutRow.session_id == session_id))
                s.execute(
                    delete(TransportFragmentRow).where(
                        TransportFragmentRow.session_id == session_id
                    )
                )
                s.execute(
                    update(TransportSessionRow)
                    .where(TransportSessionRow.session_id == session_id)
                    .values(
                        state=RELEASED,
                        released_at=now_ms(),
                        in_count=0,
                        in_bytes=0,
                        out_count=0,
                        out_bytes=0,
                    )
                )
        return ids

    # --- sender side ----------------------------------------------------------------

    def push_out(
        self, session_id: str, token: str | None, peer_node_id: str, topic: str, payload: bytes
    ) -> OutMessage:
        """Accept a component's message for a partner: durable when this returns."""
        size = len(payload)
        if size > self.limits.max_message_bytes:
            raise TransportRefused(
                PtpCode.TOO_LARGE,
                f"payload of {size} bytes exceeds {self.limits.max_message_bytes}",
            )
        with self._store.session() as s:
            row = self.check_session(s, session_id, token)
            self._make_room(row, "out", size)
            seq = self._next_seq(s, session_id, peer_node_id)
            message = TransportOutRow(
                session_id=session_id,
                peer_node_id=peer_node_id,
                topic=topic,
                seq=seq,
                payload=payload,
                created_at=now_ms(),
            )
            s.add(message)
            row.out_count += 1
            row.out_bytes += size
            row.last_activity_at = message.created_at
            s.flush()
            return OutMessage(message.id, session_id, peer_node_id, topic, seq, payload)

    def _make_room(self, row: TransportSessionRow, side: str, size: int) -> None:
        count = row.out_count if side == "out" else row.in_count
        used = row.out_bytes if side == "out" else row.in_bytes
        if (
            count + 1 > self.limits.max_session_messages
            or used + size > self.limits.max_session_bytes
        ):
            raise TransportRefused(
                PtpCode.BUFFER_FULL,
                f"session {row.session_id} holds {count} messages / {used} bytes ({side}); "
                "retry later",
            )

    def _next_seq(self, s: Session, session_id: str, peer_node_id: str) -> int:
        stream = s.get(TransportStreamRow, (session_id, peer_node_id))
        if stream is None:
            stream = TransportStreamRow(
                session_id=session_id, peer_node_id=peer_node_id, next_seq=1
            )
            s.add(stream)
        seq = stream.next_seq
        stream.next_seq = seq + 1
        return seq

    def pending_out(self, *, limit: int = 256) -> Sequence[OutMessage]:
        """Undelivered messages, oldest first (per stream that is sequence order)."""
        with self._store.session() as s:
            rows = s.scalars(select(TransportOutRow).order_by(TransportOutRow.id).limit(limit))
            return [
                OutMessage(r.id, r.session_id, r.peer_node_id, r.topic, r.seq, r.payload)
                for r in rows
            ]

    def ack_out(self, messages: Sequence[OutMessage]) -> None:
        """The partner stored these: forget them."""
        if not messages:
            return
        with self._store.session() as s:
            s.execute(
                delete(TransportOutRow).where(TransportOutRow.id.in_([m.id for m in messages]))
            )
            by_session: dict[str, tuple[int, int]] = {}
            for m in messages:
                count, size = by_session.get(m.session_id, (0, 0))
                by_session[m.session_id] = (count + 1, size + len(m.payload))
            for session_id, (count, size) in by_session.items():
                s.execute(
                    update(TransportSessionRow)
                    .where(TransportSessionRow.session_id == session_id)
                    .values(
                        out_count=TransportSessionRow.out_count - count,
                        out_bytes=TransportSessionRow.out_bytes - size,
                    )
                )

    # --- receiver side --------------------------------------------------------------

    def store_in(
        self, session_id: str, source_node_id: str, topic: str, seq: int, payload: bytes
    ) -> bool:
        """Keep a partner's message for popping; False if it was a resend (already here).

        A resend racing its original loses on the unique index: also "already here"."""
        try:
            with self._store.session() as s:
                row = self.check_session(s, session_id, None)
                if self._seen(s, session_id, source_node_id, seq):
                    return False
                self._make_room(row, "in", len(payload))
                self._insert_in(s, row, source_node_id, topic, seq, payload)
        except IntegrityError:
            return False
        return True

    def _seen(self, s: Session, session_id: str, source: str, seq: int) -> bool:
        return (
            s.scalar(
                select(TransportInRow.id).where(
                    TransportInRow.session_id == session_id,
                    TransportInRow.peer_node_id == source,
                    TransportInRow.seq == seq,
                )
            )
            is not None
        )

    def _insert_in(
        self,
        s: Session,
        row: TransportSessionRow,
        source: str,
        topic: str,
        seq: int,
        payload: bytes,
    ) -> None:
        s.add(
            TransportInRow(
                session_id=row.session_id,
                peer_node_id=source,
                topic=topic,
                seq=seq,
                payload=payload,
                created_at=now_ms(),
            )
        )
        row.in_count += 1
        row.in_bytes += len(payload)
        row.last_activity_at = now_ms()
        s.flush()

    def store_fragment(
        self,
        session_id: str,
        source_node_id: str,
        topic: str,
        seq: int,
        index: int,
        count: int,
        payload: bytes,
    ) -> bool:
        """Keep one fragment; when it completes the message, turn it into one ``in`` row.
        Returns True when the message became poppable by this call."""
        if not 0 <= index < count:
            raise TransportRefused(PtpCode.BAD_REQUEST, f"fragment {index} of {count}")
        try:
            return self._store_fragment(
                session_id, source_node_id, topic, seq, index, count, payload
            )
        except IntegrityError:
            return False

    def _store_fragment(
        self,
        session_id: str,
        source_node_id: str,
        topic: str,
        seq: int,
        index: int,
        count: int,
        payload: bytes,
    ) -> bool:
        with self._store.session() as s:
            row = self.check_session(s, session_id, None)
            if self._seen(s, session_id, source_node_id, seq):
                return False
            key = (session_id, source_node_id, seq, index)
            if s.get(TransportFragmentRow, key) is None:
                s.add(
                    TransportFragmentRow(
                        session_id=session_id,
                        peer_node_id=source_node_id,
                        seq=seq,
                        index=index,
                        count=count,
                        topic=topic,
                        payload=payload,
                    )
                )
                s.flush()
            pieces = list(
                s.scalars(
                    select(TransportFragmentRow)
                    .where(
                        TransportFragmentRow.session_id == session_id,
                        TransportFragmentRow.peer_node_id == source_node_id,
                        TransportFragmentRow.seq == seq,
                    )
                    .order_by(TransportFragmentRow.index)
                )
            )
            if len(pieces) < count:
                return False
            if [p.index for p in pieces] != list(range(count)) or {p.count for p in pieces} != {
                count
            }:
                raise TransportRefused(PtpCode.BAD_REQUEST, f"inconsistent fragments of {seq}")
            whole = b"".join(p.payload for p in pieces)
            self._make_room(row, "in", len(whole))
            s.execute(
                delete(TransportFragmentRow).where(
                    TransportFragmentRow.session_id == session_id,
                    TransportFragmentRow.peer_node_id == source_node_id,
                    TransportFragmentRow.seq == seq,
                )
            )
            self._insert_in(s, row, source_node_id, topic, seq, whole)
        return True

    def take_in(
        self, session_id: str, token: str | None, peer_node_id: str, topic: str, *, remove: bool
    ) -> bytes | None:
        """The oldest message of the queue (session, partner, topic), removed if
        ``remove`` (pop) or left in place (peek)."""
        with self._store.session() as s:
            row = self.check_session(s, session_id, token)
            message = s.scalars(
                select(TransportInRow)
                .where(
                    TransportInRow.session_id == session_id,
                    TransportInRow.peer_node_id == peer_node_id,
                    TransportInRow.topic == topic,
                )
                .order_by(TransportInRow.id)
                .limit(1)
            ).first()
            if message is None:
                return None
            if remove:
                s.delete(message)
                row.in_count -= 1
                row.in_bytes -= len(message.payload)
            row.last_activity_at = now_ms()
            return message.payload
