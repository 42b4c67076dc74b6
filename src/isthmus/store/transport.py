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

from sqlalchemy import delete, func, insert, select, update
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
            self.check_session(s, session_id, token)
            in_filter = [TransportInRow.session_id == session_id]
            if topic:
                in_filter.append(TransportInRow.topic == topic)
            dropped_in = s.execute(
                select(
                    func.count(), func.coalesce(func.sum(func.length(TransportInRow.payload)), 0)
                ).where(*in_filter)
            ).one()
            s.execute(delete(TransportInRow).where(*in_filter))
            dropped = int(dropped_in[0])
            self._release_counts(s, session_id, "in", dropped, int(dropped_in[1]))
            if topic is None:
                s.execute(
                    update(TransportSessionRow)
                    .where(TransportSessionRow.session_id == session_id)
                    .values(state=RELEASED, released_at=now_ms())
                    .execution_options(synchronize_session=False)
                )
                s.execute(
                    delete(TransportFragmentRow).where(
                        TransportFragmentRow.session_id == session_id
                    )
                )
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
        """Accept a component's message for a partner: durable when this returns.

        Safe under concurrent pushes: the first statement is a conditional UPDATE of the
        session's counters (it takes the row lock in PostgreSQL and the write lock in
        SQLite, whose driver begins the transaction at the first write), and sequence
        numbers come from an atomic UPDATE of the stream row."""
        size = len(payload)
        if size > self.limits.max_message_bytes:
            raise TransportRefused(
                PtpCode.TOO_LARGE,
                f"payload of {size} bytes exceeds {self.limits.max_message_bytes}",
            )
        with self._store.session() as s:
            self.check_session(s, session_id, token)
            self._reserve(s, session_id, "out", size)
            seq = self._next_seq(s, session_id, peer_node_id)
            stamp = now_ms()
            message_id = s.execute(
                insert(TransportOutRow)
                .values(
                    session_id=session_id,
                    peer_node_id=peer_node_id,
                    topic=topic,
                    seq=seq,
                    payload=payload,
                    created_at=stamp,
                )
                .returning(TransportOutRow.id)
            ).scalar_one()
            return OutMessage(int(message_id), session_id, peer_node_id, topic, seq, payload)

    def _reserve(self, s: Session, session_id: str, side: str, size: int) -> None:
        """Count one more pending message of ``size`` bytes, atomically, if it fits."""
        table = TransportSessionRow
        count_col = table.out_count if side == "out" else table.in_count
        bytes_col = table.out_bytes if side == "out" else table.in_bytes
        result = s.execute(
            update(table)
            .where(
                table.session_id == session_id,
                table.state == OPEN,
                count_col + 1 <= self.limits.max_session_messages,
                bytes_col + size <= self.limits.max_session_bytes,
            )
            .values(
                {
                    count_col: count_col + 1,
                    bytes_col: bytes_col + size,
                    table.last_activity_at: now_ms(),
                }
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return
        state = s.scalar(select(table.state).where(table.session_id == session_id))
        if state is None:
            raise TransportRefused(PtpCode.NOT_FOUND, f"unknown session {session_id!r}")
        if state == RELEASED:
            raise TransportRefused(PtpCode.SESSION_RELEASED, f"session {session_id} was released")
        raise TransportRefused(
            PtpCode.BUFFER_FULL,
            f"session {session_id} is full ({side}: at most {self.limits.max_session_messages} "
            f"messages / {self.limits.max_session_bytes} bytes pending); retry later",
        )

    def _release_counts(
        self, s: Session, session_id: str, side: str, count: int, size: int
    ) -> None:
        table = TransportSessionRow
        count_col = table.out_count if side == "out" else table.in_count
        bytes_col = table.out_bytes if side == "out" else table.in_bytes
        s.execute(
            update(table)
            .where(table.session_id == session_id)
            .values({count_col: count_col - count, bytes_col: bytes_col - size})
            .execution_options(synchronize_session=False)
        )

    def _next_seq(self, s: Session, session_id: str, peer_node_id: str) -> int:
        """The stream's next sequence number, from one atomic UPDATE ... RETURNING."""
        streams = TransportStreamRow
        where = (streams.session_id == session_id, streams.peer_node_id == peer_node_id)
        for _ in range(3):
            seq = s.execute(
                update(streams)
                .where(*where)
                .values(next_seq=streams.next_seq + 1)
                .returning(streams.next_seq)
            ).scalar()
            if seq is not None:
                return int(seq) - 1
            try:
                with s.begin_nested():
                    s.execute(
                        insert(streams).values(
                            session_id=session_id, peer_node_id=peer_node_id, next_seq=2
                        )
                    )
                return 1
            except IntegrityError:
                continue  # a concurrent first push created the stream: use the UPDATE
        raise TransportRefused(PtpCode.SYSTEM_ERROR, "could not allocate a sequence number")

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
                self.check_session(s, session_id, None)
                if self._seen(s, session_id, source_node_id, seq):
                    return False
                self._insert_in(s, session_id, source_node_id, topic, seq, payload)
        except IntegrityError:
            return False
        return True

    def store_many(
        self, source_node_id: str, messages: Sequence[tuple[str, str, int, bytes]]
    ) -> list[tuple[str, str]]:
        """Store a partner's batch of whole messages ``(session, topic, seq, payload)`` in
        one transaction; returns the (session, topic) of each message that was new.

        Resends are filtered by one query per session; a resend racing its original
        fails the whole batch on the unique index, and the sender's retry then finds
        them filtered."""
        stored: list[tuple[str, str]] = []
        with self._store.session() as s:
            by_session: dict[str, list[tuple[str, int, bytes]]] = {}
            for session_id, topic, seq, payload in messages:
                by_session.setdefault(session_id, []).append((topic, seq, payload))
            for session_id, items in by_session.items():
                self.check_session(s, session_id, None)
                seen = set(
                    s.scalars(
                        select(TransportInRow.seq).where(
                            TransportInRow.session_id == session_id,
                            TransportInRow.peer_node_id == source_node_id,
                            TransportInRow.seq.in_([seq for _, seq, _ in items]),
                        )
                    )
                )
                fresh = [(t, q, p) for t, q, p in items if q not in seen]
                if not fresh:
                    continue
                for *_, payload in fresh:
                    self._reserve(s, session_id, "in", len(payload))
                stamp = now_ms()
                s.execute(
                    insert(TransportInRow),
                    [
                        {
                            "session_id": session_id,
                            "peer_node_id": source_node_id,
                            "topic": t,
                            "seq": q,
                            "payload": p,
                            "created_at": stamp,
                        }
                        for t, q, p in fresh
                    ],
                )
                stored.extend((session_id, t) for t, _, _ in fresh)
        return stored

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
        self, s: Session, session_id: str, source: str, topic: str, seq: int, payload: bytes
    ) -> None:
        """Count the message against the session's limits, then store it (a resend
        fails on the unique index and rolls the count back with it)."""
        self._reserve(s, session_id, "in", len(payload))
        s.execute(
            insert(TransportInRow).values(
                session_id=session_id,
                peer_node_id=source,
                topic=topic,
                seq=seq,
                payload=payload,
                created_at=now_ms(),
            )
        )

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
            return self._store_fragment_once(
                session_id, source_node_id, topic, seq, (index, count), payload
            )
        except IntegrityError:  # a resend racing its original: already here
            return False

    def _store_fragment_once(
        self,
        session_id: str,
        source_node_id: str,
        topic: str,
        seq: int,
        position: tuple[int, int],
        payload: bytes,
    ) -> bool:
        index, count = position
        with self._store.session() as s:
            self.check_session(s, session_id, None)
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
            s.execute(
                delete(TransportFragmentRow).where(
                    TransportFragmentRow.session_id == session_id,
                    TransportFragmentRow.peer_node_id == source_node_id,
                    TransportFragmentRow.seq == seq,
                )
            )
            self._insert_in(s, session_id, source_node_id, topic, seq, whole)
        return True

    def take_in(
        self, session_id: str, token: str | None, peer_node_id: str, topic: str, *, remove: bool
    ) -> bytes | None:
        """The oldest message of the queue (session, partner, topic), removed if
        ``remove`` (pop) or left in place (peek).

        A pop is one ``DELETE … WHERE id = (oldest) RETURNING payload``: atomic under
        SQLite's single writer, and on PostgreSQL the subquery's ``FOR UPDATE SKIP
        LOCKED`` lets racing pops take different messages instead of colliding."""
        oldest = (
            select(TransportInRow.id)
            .where(
                TransportInRow.session_id == session_id,
                TransportInRow.peer_node_id == peer_node_id,
                TransportInRow.topic == topic,
            )
            .order_by(TransportInRow.id)
            .limit(1)
        )
        with self._store.session() as s:
            self.check_session(s, session_id, token)
            if not remove:
                payload = s.scalar(
                    select(TransportInRow.payload).where(
                        TransportInRow.id == oldest.scalar_subquery()
                    )
                )
                return None if payload is None else bytes(payload)
            row = s.execute(
                delete(TransportInRow)
                .where(
                    TransportInRow.id == oldest.with_for_update(skip_locked=True).scalar_subquery()
                )
                .returning(TransportInRow.payload)
            ).first()
            if row is None:
                return None
            payload = bytes(row.payload)
            self._release_counts(s, session_id, "in", 1, len(payload))
            return payload
