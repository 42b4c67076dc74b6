"""What each session holds of the queues, and the limits it must stay within.

Guarantees (the queue engine calls these while it decides, before anything is
committed):

* a session never holds more than ``QueueLimits.max_session_messages`` messages or
  ``max_session_bytes`` bytes pending in either direction: a reservation past them is
  refused with ``E0000000700`` (retry later) and counts nothing;
* of its incoming side, one partner never holds more than its share (the limits divided
  among the session's parties, rounded up), so no one party can fill a session the
  others need;
* every reservation is undone exactly once, when its message leaves the queue
  (``unreserve_*``); what a reload finds in the store is counted as held (``hold_*``)
  without a check, since it was admitted before.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from isthmus.store.transport import InEntry, SessionRecord, StreamKey
from isthmus.wire.errors import TransportRefused
from isthmus.wire.ptp import PtpCode


@dataclass(frozen=True)
class QueueLimits:
    """Per-session bounds; past them a push is answered E0000000700 (retry later)."""

    max_message_bytes: int = 64 * 1024 * 1024
    max_session_messages: int = 100_000
    max_session_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True)
class QueueDepths:
    """What the queues hold across all sessions (``/metrics``): ``out`` waiting to be
    forwarded to partners, ``in`` waiting to be popped by local components."""

    out_messages: int = 0
    out_bytes: int = 0
    in_messages: int = 0
    in_bytes: int = 0


@dataclass
class _Usage:
    out_count: int = 0
    out_bytes: int = 0
    in_count: int = 0
    in_bytes: int = 0


class Accounting:
    """Pending counts per session and, incoming, per (session, partner)."""

    def __init__(self, limits: QueueLimits) -> None:
        self.limits = limits
        self._sessions: dict[str, _Usage] = {}
        #: Per (session, partner): what that partner's messages hold of the in queue.
        self._partners: dict[StreamKey, _Usage] = {}

    def clear(self) -> None:
        """Forget every count (the engine reloads them from the store)."""
        self._sessions = {}
        self._partners = {}

    def usage(self, session_id: str) -> dict[str, int]:
        """Pending counts of a session (for the admin API and tests)."""
        return dataclasses.asdict(self._sessions.get(session_id, _Usage()))

    def totals(self) -> QueueDepths:
        """The pending counts of every session added up."""
        usages = list(self._sessions.values())
        return QueueDepths(
            out_messages=sum(u.out_count for u in usages),
            out_bytes=sum(u.out_bytes for u in usages),
            in_messages=sum(u.in_count for u in usages),
            in_bytes=sum(u.in_bytes for u in usages),
        )

    def _of(self, session_id: str) -> _Usage:
        usage = self._sessions.get(session_id)
        if usage is None:
            usage = self._sessions[session_id] = _Usage()
        return usage

    def _partner(self, session_id: str, source: str) -> _Usage:
        key = (session_id, source)
        usage = self._partners.get(key)
        if usage is None:
            usage = self._partners[key] = _Usage()
        return usage

    def _full(self, session_id: str, side: str) -> TransportRefused:
        return TransportRefused(
            PtpCode.BUFFER_FULL,
            f"session {session_id} is full ({side}: at most {self.limits.max_session_messages}"
            f" messages / {self.limits.max_session_bytes} bytes pending); retry later",
        )

    # --- outgoing -------------------------------------------------------------------

    def reserve_out(self, session_id: str, size: int) -> None:
        """Room for a pushed message, or ``E0000000700``."""
        usage = self._of(session_id)
        limits = self.limits
        if (
            usage.out_count + 1 > limits.max_session_messages
            or usage.out_bytes + size > limits.max_session_bytes
        ):
            raise self._full(session_id, "out")
        self.hold_out(session_id, size)

    def hold_out(self, session_id: str, size: int) -> None:
        """Count an outgoing message without a check (reloaded, or just reserved)."""
        usage = self._of(session_id)
        usage.out_count += 1
        usage.out_bytes += size

    def unreserve_out(self, session_id: str, size: int) -> None:
        """One pending outgoing message of ``size`` bytes fewer (it left the queue)."""
        usage = self._of(session_id)
        usage.out_count -= 1
        usage.out_bytes -= size

    # --- incoming -------------------------------------------------------------------

    def reserve_in(self, record: SessionRecord, source: str, size: int) -> None:
        """Room for a partner's message: within the session's limits, and within the
        partner's share of them (the limits divided among the session's parties), so
        that no one party can fill a session the others need."""
        session_id = record.session_id
        usage = self._of(session_id)
        limits = self.limits
        if (
            usage.in_count + 1 > limits.max_session_messages
            or usage.in_bytes + size > limits.max_session_bytes
        ):
            raise self._full(session_id, "in")
        shares = max(1, len(record.parties))
        most = math.ceil(limits.max_session_messages / shares)
        most_bytes = math.ceil(limits.max_session_bytes / shares)
        partner = self._partner(session_id, source)
        if partner.in_count + 1 > most or partner.in_bytes + size > most_bytes:
            raise TransportRefused(
                PtpCode.BUFFER_FULL,
                f"node {source}'s share of session {session_id} is full (at most {most} "
                f"messages / {most_bytes} bytes pending); retry later",
            )
        self._count_in(session_id, source, size, +1)

    def hold_in(self, entry: InEntry) -> None:
        """Count a stored incoming message without a check (reloaded)."""
        self._count_in(entry.session_id, entry.peer_node_id, entry.size, +1)

    def unreserve_in(self, entry: InEntry) -> None:
        """One pending incoming message fewer (it left the queue)."""
        self._count_in(entry.session_id, entry.peer_node_id, entry.size, -1)

    def _count_in(self, session_id: str, source: str, size: int, sign: int) -> None:
        for usage in (self._of(session_id), self._partner(session_id, source)):
            usage.in_count += sign
            usage.in_bytes += sign * size
