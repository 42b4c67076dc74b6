"""Append-only, hash-chained audit log.

Each event's ``hash`` is SHA-256 over the canonical JSON of
``[seq, ts, actor, action, subject, outcome, details, prev_hash]`` and ``prev_hash`` is
the hash of the event before it (64 zeros for the first). ``audit_head`` holds the last
sequence number and hash. So:

* editing any field of an event breaks its own hash;
* deleting an event leaves a gap in ``seq`` and a broken ``prev_hash`` link;
* reordering breaks ``prev_hash`` links;
* cutting events off the end disagrees with the head.

Someone with write access to the database *and* the patience to recompute every later
hash and the head can still rewrite history; exports (``isthmus audit export``) carry the
head hash signed by the node key, so a copy kept elsewhere pins the chain at that point.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from isthmus.store.schema import AuditEventRow, AuditHeadRow
from isthmus.wire.clock import now_ms

GENESIS_HASH = "0" * 64
EVENT_FIELDS = ("seq", "ts", "actor", "action", "subject", "outcome", "details", "prev_hash")


def event_hash(event: dict[str, Any]) -> str:
    """The chain hash of one event given as a dict with ``EVENT_FIELDS``."""
    material = [event[name] for name in EVENT_FIELDS]
    canonical = json.dumps(material, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def row_to_dict(row: AuditEventRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in (*EVENT_FIELDS, "hash")}


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    checked: int
    last_seq: int
    last_hash: str
    problem: str | None = None
    bad_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "problem": self.problem,
            "bad_seq": self.bad_seq,
        }


def verify_chain(
    events: Iterable[dict[str, Any]], head: tuple[int, str] | None = None
) -> ChainVerdict:
    """Check a sequence of events (in the order given) and, if known, the head.

    Pure function: the node runs it over its table, the CLI over an exported file.
    """
    expected_seq, prev = 1, GENESIS_HASH
    checked = 0
    for event in events:
        seq = int(event["seq"])
        if seq != expected_seq:
            return ChainVerdict(
                False,
                checked,
                expected_seq - 1,
                prev,
                f"sequence gap or reorder: expected {expected_seq}, found {seq}",
                seq,
            )
        if event["prev_hash"] != prev:
            return ChainVerdict(
                False, checked, seq - 1, prev, "broken link: prev_hash does not match", seq
            )
        if event_hash(event) != event["hash"]:
            return ChainVerdict(
                False, checked, seq - 1, prev, "event content does not match its hash", seq
            )
        prev = event["hash"]
        expected_seq += 1
        checked += 1
    last_seq = expected_seq - 1
    if head is not None and (head[0] != last_seq or head[1] != prev):
        return ChainVerdict(
            False,
            checked,
            last_seq,
            prev,
            f"head says seq {head[0]} but the chain ends at {last_seq}: events were removed "
            "or the head was altered",
            last_seq + 1,
        )
    return ChainVerdict(True, checked, last_seq, prev)


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        """``sessions`` (the store's session factory) opens the transactions of
        :meth:`record` and :meth:`verify`; every other method runs in the caller's."""
        self._sessions = sessions

    def append(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        subject: str = "",
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
    ) -> AuditEventRow:
        """Add one event in the caller's transaction.

        The head row is updated *first*: in PostgreSQL that takes its row lock, in SQLite
        the database write lock, so concurrent appenders queue here and never fork the
        chain, and no transaction has to upgrade a read lock (SQLite's deadlock case).
        """
        session.execute(
            update(AuditHeadRow)
            .where(AuditHeadRow.id == 1)
            .values(last_seq=AuditHeadRow.last_seq + 1)
        )
        head = session.execute(
            select(AuditHeadRow.last_seq, AuditHeadRow.last_hash).where(AuditHeadRow.id == 1)
        ).one()
        event: dict[str, Any] = {
            "seq": int(head.last_seq),
            "ts": now_ms(),
            "actor": actor[:256],
            "action": action[:128],
            "subject": subject[:256],
            "outcome": outcome[:32],
            "details": json.dumps(details or {}, sort_keys=True, ensure_ascii=False),
            "prev_hash": head.last_hash,
        }
        event["hash"] = event_hash(event)
        row = AuditEventRow(**event)
        session.add(row)
        session.execute(
            update(AuditHeadRow).where(AuditHeadRow.id == 1).values(last_hash=event["hash"])
        )
        session.flush()
        return row

    def record(self, **kwargs: Any) -> None:
        """Append in a transaction of its own (for refusals, which change nothing else)."""
        with self._sessions.begin() as session:
            self.append(session, **kwargs)

    def page(
        self,
        session: Session,
        *,
        after_seq: int = 0,
        limit: int = 100,
        action: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> Sequence[AuditEventRow]:
        """Events after ``after_seq`` in ``seq`` order: of ``action`` and ``actor`` (the
        same text), whose ``subject`` contains ``subject`` (as text: ``%`` and ``_`` are
        no wildcards), stamped at or after ``since_ms`` and before ``until_ms``."""
        query = select(AuditEventRow).where(AuditEventRow.seq > after_seq)
        if action:
            query = query.where(AuditEventRow.action == action)
        if actor:
            query = query.where(AuditEventRow.actor == actor)
        if subject:
            query = query.where(AuditEventRow.subject.contains(subject, autoescape=True))
        if since_ms is not None:
            query = query.where(AuditEventRow.ts >= since_ms)
        if until_ms is not None:
            query = query.where(AuditEventRow.ts < until_ms)
        return session.scalars(query.order_by(AuditEventRow.seq).limit(limit)).all()

    def head(self, session: Session) -> tuple[int, str]:
        row = session.execute(
            select(AuditHeadRow.last_seq, AuditHeadRow.last_hash).where(AuditHeadRow.id == 1)
        ).one()
        return int(row.last_seq), str(row.last_hash)

    def iter_all(self, session: Session, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every event in ``seq`` order, read in batches so memory stays flat."""
        after = 0
        while True:
            rows = self.page(session, after_seq=after, limit=batch)
            if not rows:
                return
            for row in rows:
                yield row_to_dict(row)
            after = rows[-1].seq

    def verify(self) -> ChainVerdict:
        with self._sessions.begin() as session:
            head = self.head(session)
            # Read by physical order of seq as stored; verify_chain spots gaps and swaps.
            return verify_chain(self.iter_all(session), head)
