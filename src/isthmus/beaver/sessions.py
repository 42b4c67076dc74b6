"""The Beaver service's sessions: who registered which seed, bounded in number and age.

A session is created by the first ``CreateSession`` naming its id, and fixes the world
size, the adjust rank, the protocol version and the PRG cipher; every later call must
agree. It is *complete* once every rank ``0..world_size-1`` has registered a seed; an
adjustment waits for that at most ``complete_wait_s``, then is refused
(``session_incomplete``). Guarantees: at most ``max_sessions`` sessions exist; one unused
for ``session_idle_s`` is dropped (swept on every call, so no background task is
needed); a session is removed once ``world_size`` ``DeleteSession`` calls arrived (every
party closes it; the adjust rank's last adjustment therefore never races another
party's close). Seeds stay in memory only and never appear in a message or a log line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from isthmus.mpc.prg import PrgCrypto
from isthmus.wire.proto import interconnection_common_pb2 as common

#: ``required_version`` values served (0 = the field left unset).
VERSIONS = (0, 1)
SEED_BYTES = 16
MAX_SESSION_ID = 256


class Refusal(Exception):
    """A request the service answers with a non-zero ``code``: an
    ``org.interconnection.ErrorCode`` and a message starting with a stable reason token."""

    def __init__(self, code: int, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.code = code
        self.reason = reason
        self.message = f"{reason}: {detail}"


@dataclass(frozen=True)
class BeaverLimits:
    """What one node's service holds and computes at most."""

    max_sessions: int = 64
    max_world_size: int = 16
    #: Elements of any one buffer of a request (Dot: of A, B and C each).
    max_elements: int = 1 << 22
    session_idle_s: float = 600.0
    complete_wait_s: float = 30.0


@dataclass(frozen=True)
class Material:
    """What an adjustment needs of a complete session: every rank's seed, in rank order."""

    seeds: tuple[bytes, ...]
    crypto: PrgCrypto


@dataclass
class _Session:
    world_size: int
    adjust_rank: int
    version: int
    crypto: PrgCrypto
    last_used: float
    seeds: dict[int, bytes] = field(default_factory=dict)
    deletes: int = 0
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def __repr__(self) -> str:  # never the seeds
        return f"_Session(world_size={self.world_size}, ranks={sorted(self.seeds)})"


class SessionTable:
    """The sessions of one service; used from one event loop."""

    def __init__(
        self, limits: BeaverLimits, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sessions: dict[str, _Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def sweep(self) -> None:
        """Drop sessions idle for longer than ``session_idle_s``."""
        cutoff = self._clock() - self.limits.session_idle_s
        for sid in [s for s, v in self._sessions.items() if v.last_used < cutoff]:
            del self._sessions[sid]

    def create(
        self,
        session_id: str,
        *,
        world_size: int,
        rank: int,
        adjust_rank: int,
        seed: bytes,
        crypto: PrgCrypto = "AES128_CTR",
        version: int = 1,
    ) -> None:
        """Register ``rank``'s seed (creating the session on its first call). The same
        seed registered again is accepted (a retried call); another one is refused."""
        self.sweep()
        if version not in VERSIONS:
            raise Refusal(common.UNSUPPORTED_VERSION, "bad_version", f"version {version}")
        if not 0 < len(session_id) <= MAX_SESSION_ID:
            raise Refusal(common.INVALID_REQUEST, "bad_request", "session_id empty or too long")
        if not 1 <= world_size <= self.limits.max_world_size:
            raise Refusal(
                common.INVALID_REQUEST,
                "bad_world_size",
                f"world_size {world_size} outside 1..{self.limits.max_world_size}",
            )
        if not (0 <= rank < world_size and 0 <= adjust_rank < world_size):
            raise Refusal(
                common.INVALID_REQUEST,
                "bad_rank",
                f"rank {rank} / adjust_rank {adjust_rank} outside 0..{world_size - 1}",
            )
        if len(seed) != SEED_BYTES:
            raise Refusal(common.INVALID_REQUEST, "bad_request", "a seed is 16 bytes")
        session = self._sessions.get(session_id)
        if session is None:
            if len(self._sessions) >= self.limits.max_sessions:
                raise Refusal(
                    common.GENERIC_ERROR,
                    "too_many_sessions",
                    f"{self.limits.max_sessions} sessions open; try later",
                )
            session = _Session(world_size, adjust_rank, version, crypto, self._clock())
            self._sessions[session_id] = session
        self._join(session_id, session, world_size, rank, adjust_rank, seed, crypto)

    def _join(
        self,
        session_id: str,
        session: _Session,
        world_size: int,
        rank: int,
        adjust_rank: int,
        seed: bytes,
        crypto: PrgCrypto,
    ) -> None:
        if session.world_size != world_size:
            raise Refusal(
                common.INVALID_REQUEST,
                "world_size_mismatch",
                f"session {session_id} has world_size {session.world_size}, not {world_size}",
            )
        if session.adjust_rank != adjust_rank or session.crypto != crypto:
            raise Refusal(
                common.INVALID_REQUEST,
                "session_mismatch",
                f"session {session_id} has another adjust_rank or PRG cipher",
            )
        known = session.seeds.get(rank)
        if known is not None and known != seed:
            raise Refusal(
                common.INVALID_REQUEST,
                "duplicate_rank",
                f"rank {rank} already registered another seed in session {session_id}",
            )
        session.seeds[rank] = seed
        session.last_used = self._clock()
        if len(session.seeds) == session.world_size:
            session.complete.set()

    def delete(self, session_id: str) -> None:
        """Count one party's close; the ``world_size``-th removes the session. Deleting an
        unknown (or already removed) session is not an error: closing is idempotent."""
        self.sweep()
        session = self._sessions.get(session_id)
        if session is None:
            return
        session.deletes += 1
        session.last_used = self._clock()
        if session.deletes >= session.world_size:
            del self._sessions[session_id]

    async def material(self, session_id: str) -> Material:
        """The seeds of a complete session, waiting at most ``complete_wait_s`` for its
        missing ranks."""
        self.sweep()
        session = self._sessions.get(session_id)
        if session is None:
            raise Refusal(common.INVALID_RESOURCE, "unknown_session", f"no session {session_id}")
        session.last_used = self._clock()
        if not session.complete.is_set():
            try:
                await asyncio.wait_for(session.complete.wait(), self.limits.complete_wait_s)
            except TimeoutError:
                raise Refusal(
                    common.GENERIC_ERROR,
                    "session_incomplete",
                    f"session {session_id}: ranks {sorted(session.seeds)} of "
                    f"{session.world_size} registered after {self.limits.complete_wait_s:g} s",
                ) from None
        if self._sessions.get(session_id) is not session:
            raise Refusal(common.INVALID_RESOURCE, "unknown_session", f"no session {session_id}")
        session.last_used = self._clock()
        return Material(tuple(session.seeds[r] for r in range(session.world_size)), session.crypto)
