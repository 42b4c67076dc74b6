"""Durable queues of the transport module: the SQL, and nothing else.

Every rule (sessions, tokens, limits, sequence numbers, resend filtering) is decided in
memory by the transport layer's ``QueueEngine``, the single authority over one node's
queues. This module only has to do two things fast:

* ``load()``: read the whole durable state back after a start or a crash;
* ``commit(batch)``: apply everything the engine decided since the last commit in ONE
  transaction (group commit): the pushes of many components, the pops, the partner
  batches received, the acknowledgements, with one executemany per table.

Tables: ``transport_sessions``; ``transport_streams`` (sender side: next sequence number
per (session, partner)); ``transport_in_streams`` (receiver side: highest sequence number
stored per (session, partner), which turns every resend into a no-op even after the
message was popped); ``transport_out`` (accepted, not yet stored by the partner);
``transport_in`` (stored here, not yet popped); ``transport_fragments`` (pieces of a
message larger than the east-west limit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, func, select

from isthmus.store.blobs import BlobDir
from isthmus.store.schema import (
    TransportFragmentRow,
    TransportInRow,
    TransportInStreamRow,
    TransportOutRow,
    TransportSessionRow,
    TransportStreamRow,
)

if TYPE_CHECKING:
    from isthmus.store.db import Store

OPEN, RELEASED = "OPEN", "RELEASED"

SESSIONS: Table = TransportSessionRow.__table__  # type: ignore[assignment]
STREAMS: Table = TransportStreamRow.__table__  # type: ignore[assignment]
IN_STREAMS: Table = TransportInStreamRow.__table__  # type: ignore[assignment]
OUT: Table = TransportOutRow.__table__  # type: ignore[assignment]
IN: Table = TransportInRow.__table__  # type: ignore[assignment]
FRAGMENTS: Table = TransportFragmentRow.__table__  # type: ignore[assignment]

#: Ids per ``IN (...)`` list: below every database's bound-parameter limit.
_CHUNK = 500

StreamKey = tuple[str, str]  # session, partner node
FragmentKey = tuple[str, str, int]  # session, partner node, seq


@dataclass
class SessionRecord:
    session_id: str
    token_sha256: str
    state: str
    created_at: int
    last_activity_at: int
    released_at: int | None = None
    #: The partners of the session's job (node ids, never this node): the only nodes
    #: whose messages it accepts and to which it sends. Empty: none (migration 0007).
    parties: frozenset[str] = frozenset()


def parties_text(parties: frozenset[str]) -> str:
    """The ``parties`` column: sorted node ids joined by ``,`` (ids never hold one)."""
    return ",".join(sorted(parties))


def parties_of(text: str | None) -> frozenset[str]:
    return frozenset(p for p in (text or "").split(",") if p)


@dataclass(frozen=True)
class OutMessage:
    """An accepted message on its way to a partner. ``payload`` is None when it was
    left in the store to bound memory (``read_out`` brings it back)."""

    id: int
    session_id: str
    peer_node_id: str
    topic: str
    seq: int
    payload: bytes | None
    size: int
    spilled: bool = False


@dataclass(frozen=True)
class InEntry:
    """A stored, unread message of the in queue (its payload stays in the store)."""

    id: int
    session_id: str
    peer_node_id: str
    topic: str
    size: int
    spilled: bool = False


@dataclass(frozen=True)
class NewIn:
    entry: InEntry
    seq: int
    payload: bytes


@dataclass(frozen=True)
class NewFragment:
    key: FragmentKey
    index: int
    count: int
    topic: str
    payload: bytes


@dataclass(frozen=True)
class FragmentHeld:
    """What the engine remembers of a partly received message."""

    count: int
    topic: str
    indices: frozenset[int]
    size: int


@dataclass
class Snapshot:
    sessions: dict[str, SessionRecord]
    next_seq: dict[StreamKey, int]
    received_upto: dict[StreamKey, int]
    out: list[OutMessage]
    inbox: list[InEntry]
    fragments: dict[FragmentKey, FragmentHeld]
    max_out_id: int
    max_in_id: int


@dataclass
class Batch:
    """Everything to make durable in one transaction, in the order the engine decided.

    Ids are assigned by the engine (it is the only writer), so no statement needs
    ``RETURNING`` except the pops, which take their payloads out."""

    new_sessions: list[SessionRecord] = field(default_factory=list)
    session_states: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    touched: dict[str, int] = field(default_factory=dict)
    next_seq: dict[StreamKey, int] = field(default_factory=dict)
    received_upto: dict[StreamKey, int] = field(default_factory=dict)
    out_new: list[OutMessage] = field(default_factory=list)
    out_done: list[int] = field(default_factory=list)
    in_new: list[NewIn] = field(default_factory=list)
    in_take: list[int] = field(default_factory=list)
    in_drop: list[int] = field(default_factory=list)
    fragments_new: list[NewFragment] = field(default_factory=list)
    #: (key, in entry) for messages whose last fragment arrived: join the pieces.
    fragments_joined: list[tuple[FragmentKey, InEntry]] = field(default_factory=list)
    fragments_dropped_sessions: set[str] = field(default_factory=set)
    created_at: int = 0

    def __bool__(self) -> bool:
        """Whether there is anything to write (``created_at`` is not a write)."""
        return any(getattr(self, f.name) for f in fields(self) if f.name != "created_at")

    @property
    def payload_bytes(self) -> int:
        """Bytes this batch writes (decides whether to commit off the event loop)."""
        return (
            sum(m.size for m in self.out_new)
            + sum(len(m.payload) for m in self.in_new)
            + sum(len(f.payload) for f in self.fragments_new)
            + sum(e.size for _, e in self.fragments_joined)
        )


class TransportStore:
    def __init__(
        self, store: Store, *, blobs: BlobDir | None = None, spill_bytes: int = 64 * 1024
    ) -> None:
        self._store = store
        self.blobs = blobs
        self.spill_bytes = spill_bytes if blobs is not None else 0
        self._writer: Any = None  # the committer's own DBAPI connection, held
        self._qmark = store.engine.dialect.paramstyle == "qmark"

    def should_spill(self, size: int) -> bool:
        """Whether a payload of ``size`` bytes goes to a file (decided when it is queued;
        the row remembers, so changing the spill size later is safe)."""
        return 0 < self.spill_bytes <= size

    @property
    def dialect(self) -> str:
        return self._store.engine.dialect.name

    # --- reading back ---------------------------------------------------------------

    def load(self, *, out_memory_bytes: int) -> Snapshot:
        """The durable state. Out payloads are loaded while they fit ``out_memory_bytes``;
        in payloads never are (a pop takes them straight from the store)."""
        with self._store.engine.connect() as c:
            sessions = {
                r.session_id: SessionRecord(
                    r.session_id,
                    r.token_sha256,
                    r.state,
                    r.created_at,
                    r.last_activity_at,
                    r.released_at,
                    parties_of(r.parties),
                )
                for r in c.execute(select(SESSIONS))
            }
            next_seq = {(r[0], r[1]): int(r[2]) for r in c.execute(select(STREAMS))}
            upto = {(r[0], r[1]): int(r[2]) for r in c.execute(select(IN_STREAMS))}
            budget = out_memory_bytes
            kept: list[tuple[Any, int, bool]] = []
            for r in c.execute(
                select(
                    OUT.c.id,
                    OUT.c.session_id,
                    OUT.c.peer_node_id,
                    OUT.c.topic,
                    OUT.c.seq,
                    func.length(OUT.c.payload),
                    OUT.c.spilled,
                ).order_by(OUT.c.id)
            ):
                size = self._size("out", r[0], r[5], r[6])
                keep = size <= budget
                budget -= size if keep else 0
                kept.append((r, size, keep))
            loaded = self._read(c, OUT, [int(r[0]) for r, _, keep in kept if keep])
            out = [
                OutMessage(
                    r[0], r[1], r[2], r[3], int(r[4]), loaded.get(int(r[0])), size, bool(r[6])
                )
                for r, size, _ in kept
            ]
            inbox = [
                InEntry(r[0], r[1], r[2], r[3], self._size("in", r[0], r[4], r[5]), bool(r[5]))
                for r in c.execute(
                    select(
                        IN.c.id,
                        IN.c.session_id,
                        IN.c.peer_node_id,
                        IN.c.topic,
                        func.length(IN.c.payload),
                        IN.c.spilled,
                    ).order_by(IN.c.id)
                )
            ]
            if self.blobs is not None:
                self.blobs.sweep(
                    [("out", m.id) for m in out if m.spilled]
                    + [("in", e.id) for e in inbox if e.spilled]
                )
            pieces: dict[FragmentKey, list[Any]] = {}
            for piece in c.execute(
                select(
                    FRAGMENTS.c.session_id,
                    FRAGMENTS.c.peer_node_id,
                    FRAGMENTS.c.seq,
                    FRAGMENTS.c.index,
                    FRAGMENTS.c.count,
                    FRAGMENTS.c.topic,
                    func.length(FRAGMENTS.c.payload),
                )
            ):
                pieces.setdefault((piece[0], piece[1], int(piece[2])), []).append(piece)
            fragments = {
                key: FragmentHeld(
                    int(rs[0][4]),
                    rs[0][5],
                    frozenset(int(r[3]) for r in rs),
                    sum(int(r[6]) for r in rs),
                )
                for key, rs in pieces.items()
            }
            max_out = c.execute(select(func.max(OUT.c.id))).scalar() or 0
            max_in = c.execute(select(func.max(IN.c.id))).scalar() or 0
        return Snapshot(sessions, next_seq, upto, out, inbox, fragments, int(max_out), int(max_in))

    def read_out(self, ids: Sequence[int]) -> dict[int, bytes]:
        with self._store.engine.connect() as c:
            return self._read(c, OUT, ids)

    def read_in(self, ids: Sequence[int]) -> dict[int, bytes]:
        with self._store.engine.connect() as c:
            return self._read(c, IN, ids)

    def read_in_one(self, entry: InEntry) -> bytes | None:
        """One in message's payload: a spilled one straight from its file (its row says
        nothing more), any other from its row."""
        if entry.spilled and self.blobs is not None:
            try:
                return self.blobs.read("in", entry.id)
            except FileNotFoundError:
                return None
        return self.read_in([entry.id]).get(entry.id)

    def _read(self, c: Connection, table: Table, ids: Sequence[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        queue = "out" if table is OUT else "in"
        for chunk in _chunks(ids):
            rows = c.execute(
                select(table.c.id, table.c.payload, table.c.spilled).where(table.c.id.in_(chunk))
            )
            for row_id, payload, spilled in rows:
                found[int(row_id)] = self._payload(queue, int(row_id), payload, spilled)
        return found

    def _spill_dir(self, queue: str, row_id: int) -> BlobDir:
        if self.blobs is None:
            raise RuntimeError(f"{queue} message {row_id} is spilled but no spill directory")
        return self.blobs

    def _payload(self, queue: str, row_id: int, payload: Any, spilled: Any) -> bytes:
        if spilled:
            return self._spill_dir(queue, row_id).read(queue, row_id)
        return bytes(payload)

    def _size(self, queue: str, row_id: int, length: Any, spilled: Any) -> int:
        if spilled:
            return self._spill_dir(queue, row_id).size(queue, row_id)
        return int(length or 0)

    # --- writing --------------------------------------------------------------------

    def commit(self, batch: Batch) -> dict[int, bytes]:
        """Apply ``batch`` atomically; returns the payloads of the popped in messages.

        This runs for every group of transport operations, so it speaks to the driver
        directly (one held connection, prepared statement text, ``executemany``): the
        SQL expression layer costs more per statement than SQLite takes to run it."""
        self._spill(batch)
        removed: list[tuple[str, int]] = []
        connection = self._writer_connection()
        try:
            cursor = connection.cursor()
            try:
                taken = self._apply(cursor, batch, removed)
            finally:
                cursor.close()
            connection.commit()
        except BaseException:
            self._drop_writer()
            raise
        if self.blobs is not None:
            for queue, row_id in removed:
                self.blobs.remove(queue, row_id)
        return taken

    def _spill(self, batch: Batch) -> None:
        """Write the batch's spilled payloads before the commit that references them."""
        if self.blobs is None:
            return
        for m in batch.out_new:
            if m.spilled:
                assert m.payload is not None
                self.blobs.write("out", m.id, m.payload)
        for n in batch.in_new:
            if n.entry.spilled:
                self.blobs.write("in", n.entry.id, n.payload)

    def _writer_connection(self) -> Any:
        if self._writer is None:
            self._writer = self._store.engine.raw_connection()
        return self._writer

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.rollback()
        finally:
            writer.invalidate()  # a connection that failed mid-transaction is not reused

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def _sql(self, text: str) -> str:
        return text if self._qmark else text.replace("?", "%s")

    def _apply(self, cur: Any, batch: Batch, removed: list[tuple[str, int]]) -> dict[int, bytes]:
        sql, at = self._sql, batch.created_at
        if batch.new_sessions:
            cur.executemany(
                sql(
                    "INSERT INTO transport_sessions (session_id, token_sha256, state, "
                    "created_at, last_activity_at, released_at, parties) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                [
                    (
                        r.session_id,
                        r.token_sha256,
                        r.state,
                        r.created_at,
                        r.last_activity_at,
                        r.released_at,
                        parties_text(r.parties),
                    )
                    for r in batch.new_sessions
                ],
            )
        if batch.out_new:
            cur.executemany(
                sql(
                    "INSERT INTO transport_out (id, session_id, peer_node_id, topic, seq, "
                    "payload, spilled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                [
                    (
                        m.id,
                        m.session_id,
                        m.peer_node_id,
                        m.topic,
                        m.seq,
                        b"" if m.spilled else m.payload,
                        m.spilled,
                        at,
                    )
                    for m in batch.out_new
                ],
            )
        self._upsert(cur, "transport_streams", "next_seq", batch.next_seq)
        if batch.in_new:
            cur.executemany(
                sql(
                    "INSERT INTO transport_in (id, session_id, peer_node_id, topic, seq, "
                    "payload, spilled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                [
                    (
                        n.entry.id,
                        n.entry.session_id,
                        n.entry.peer_node_id,
                        n.entry.topic,
                        n.seq,
                        b"" if n.entry.spilled else n.payload,
                        n.entry.spilled,
                        at,
                    )
                    for n in batch.in_new
                ],
            )
        if batch.fragments_new:
            cur.executemany(
                sql(
                    'INSERT INTO transport_fragments (session_id, peer_node_id, seq, "index", '
                    "count, topic, payload) VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                [(*f.key, f.index, f.count, f.topic, f.payload) for f in batch.fragments_new],
            )
        for key, entry in batch.fragments_joined:
            self._join(cur, key, entry, at)
        self._upsert(cur, "transport_in_streams", "received_upto", batch.received_upto)
        taken: dict[int, bytes] = {}
        for chunk in _chunks(batch.in_take):
            cur.execute(
                sql(_delete_returning("transport_in", len(chunk), "payload, spilled")), chunk
            )
            for row_id, payload, spilled in cur.fetchall():
                taken[int(row_id)] = self._payload("in", int(row_id), payload, spilled)
                if spilled:
                    removed.append(("in", int(row_id)))
        for queue, ids in (("in", batch.in_drop), ("out", batch.out_done)):
            for chunk in _chunks(ids):
                cur.execute(
                    sql(_delete_returning(f"transport_{queue}", len(chunk), "spilled")), chunk
                )
                removed.extend(
                    (queue, int(row_id)) for row_id, spilled in cur.fetchall() if spilled
                )
        for session_id in sorted(batch.fragments_dropped_sessions):
            cur.execute(sql("DELETE FROM transport_fragments WHERE session_id = ?"), (session_id,))
        if batch.session_states:
            cur.executemany(
                sql(
                    "UPDATE transport_sessions SET state = ?, released_at = ? WHERE session_id = ?"
                ),
                [(state, at_, sid) for sid, (state, at_) in batch.session_states.items()],
            )
        if batch.touched:
            cur.executemany(
                sql("UPDATE transport_sessions SET last_activity_at = ? WHERE session_id = ?"),
                [(stamp, sid) for sid, stamp in batch.touched.items()],
            )
        return taken

    def _join(self, cur: Any, key: FragmentKey, entry: InEntry, created_at: int) -> None:
        """Turn a message's fragments into its one ``in`` row, in the same transaction."""
        where = "session_id = ? AND peer_node_id = ? AND seq = ?"
        cur.execute(
            self._sql(f'SELECT payload FROM transport_fragments WHERE {where} ORDER BY "index"'),  # noqa: S608 - constants
            key,
        )
        whole = b"".join(bytes(row[0]) for row in cur.fetchall())
        if entry.spilled and self.blobs is not None:
            self.blobs.write("in", entry.id, whole)
        cur.execute(
            self._sql(
                "INSERT INTO transport_in (id, session_id, peer_node_id, topic, seq, payload, "
                "spilled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (
                entry.id,
                entry.session_id,
                entry.peer_node_id,
                entry.topic,
                key[2],
                b"" if entry.spilled else whole,
                entry.spilled,
                created_at,
            ),
        )
        cur.execute(self._sql(f"DELETE FROM transport_fragments WHERE {where}"), key)  # noqa: S608 - constants

    def _upsert(self, cur: Any, table: str, column: str, values: dict[StreamKey, int]) -> None:
        if values:
            cur.executemany(
                self._sql(
                    f"INSERT INTO {table} (session_id, peer_node_id, {column}) VALUES (?, ?, ?) "  # noqa: S608 - constants
                    f"ON CONFLICT (session_id, peer_node_id) DO UPDATE SET {column} = "
                    f"excluded.{column}"
                ),
                [(sid, peer, value) for (sid, peer), value in values.items()],
            )


def _delete_returning(table: str, count: int, columns: str) -> str:
    """``DELETE`` of ``count`` ids returning ``id`` and ``columns`` (constants only)."""
    marks = ", ".join("?" * count)
    return f"DELETE FROM {table} WHERE id IN ({marks}) RETURNING id, {columns}"  # noqa: S608


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
