"""The transport's facade: the one way the node and its faces reach the queues.

Guarantees (tested with real processes and SIGKILL):

* a push answered OK is in the store; it reaches the partner node even if either node
  dies and restarts meanwhile;
* per (session, partner) stream, messages reach the partner in push order, each stored
  there exactly once (the partner keeps a per-stream mark; resends at or below it are
  dropped);
* a popped message leaves the store only once its reply was handed to the client's
  connection (``Delivery``); a reply that could not be sent puts it back, in order;
* a session takes messages only from its parties, each within its share.

The queues themselves (and every rule about them) are the ``QueueEngine``; the east-west
hop is the ``Forwarder`` (``transport.forwarder``) and the bytes it exchanges the codec
(``transport.codec``). Nothing outside ``isthmus.transport`` holds the engine: the faces
(``isthmus.node.api.transport``), the node's life cycle and the scheduler's job sessions
all go through ``TransportService`` (``tests/transport/test_one_way_in.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from isthmus.store.transport import OPEN
from isthmus.transport.accounting import QueueDepths
from isthmus.transport.forwarder import Backoff, Forwarder, TrafficMeter
from isthmus.transport.queues import Delivery, IncomingMessage, QueueEngine, Received

__all__ = [
    "Delivery",
    "IncomingMessage",
    "QueueDepths",
    "SessionView",
    "TrafficMeter",
    "TransportService",
]


@dataclass(frozen=True)
class SessionView:
    """A session as the admin API shows it: who it is for, its state, and what it holds
    pending each way now (``out``: waiting to be forwarded; ``in``: waiting to be popped).
    Never its token or the token's digest."""

    session_id: str
    state: str
    parties: tuple[str, ...]
    created_at: int
    last_activity_at: int
    released_at: int | None
    out_messages: int
    out_bytes: int
    in_messages: int
    in_bytes: int


class TransportService:
    """The queue engine's operations the node uses, and its forwarder's loop."""

    def __init__(
        self, queues: QueueEngine, forwarder: Forwarder, meter: TrafficMeter | None = None
    ) -> None:
        self._queues = queues
        self._forwarder = forwarder
        #: Counts what partners send us (what we send them: the forwarder's meter).
        self._meter = meter

    # --- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Load the durable queues (the node does this before it listens)."""
        await self._queues.start()

    @property
    def alive(self) -> bool:
        """False once the queues' committer failed too often to restart (``/readyz``)."""
        return self._queues.alive

    async def aclose(self) -> None:
        """Commit what is pending, then stop (see ``QueueEngine.aclose``)."""
        await self._queues.aclose()

    # --- sessions -------------------------------------------------------------------

    async def open_session(
        self, session_id: str, token: str, parties: frozenset[str] = frozenset()
    ) -> bool:
        """Open a job's session for ``parties``; False if it existed already (same
        token and parties)."""
        return await self._queues.open_session(session_id, token, parties)

    async def release(self, session_id: str, token: str | None, topic: str | None) -> int:
        return await self._queues.release(session_id, token, topic)

    async def expire_idle(self, idle_ms: int) -> list[str]:
        """Release the sessions nobody used for ``idle_ms``; their ids."""
        return await self._queues.expire_idle(idle_ms)

    async def sessions(self, *, limit: int = 200) -> list[SessionView]:
        """The open sessions, then the released ones, most recently active first, at most
        ``limit`` of them; each with what it holds pending."""
        records = await self._queues.session_records()
        records.sort(key=lambda r: (r.state != OPEN, -r.last_activity_at, r.session_id))
        views = []
        for record in records[: max(limit, 0)]:
            usage = self._queues.usage(record.session_id)
            views.append(
                SessionView(
                    session_id=record.session_id,
                    state=record.state,
                    parties=tuple(sorted(record.parties)),
                    created_at=record.created_at,
                    last_activity_at=record.last_activity_at,
                    released_at=record.released_at,
                    out_messages=usage["out_count"],
                    out_bytes=usage["out_bytes"],
                    in_messages=usage["in_count"],
                    in_bytes=usage["in_bytes"],
                )
            )
        return views

    def depths(self) -> QueueDepths:
        """What the queues hold, both ways, across sessions (``/metrics``). Call it on
        the event loop: the counts it adds up change there."""
        return self._queues.depths()

    # --- south-north ----------------------------------------------------------------

    async def push(
        self, session_id: str, token: str | None, peer_node_id: str, topic: str, payload: bytes
    ) -> None:
        await self._queues.push(session_id, token, peer_node_id, topic, payload)

    async def pop(
        self,
        session_id: str,
        token: str | None,
        peer_node_id: str | None,
        topic: str,
        timeout_s: float,
        *,
        remove: bool = True,
        ack: int | None = None,
    ) -> Delivery | None:
        """The next message; the caller settles the ``Delivery`` once it knows whether
        the reply reached the client's connection (unless ``ack``: see ``QueueEngine``)."""
        return await self._queues.pop(
            session_id, token, peer_node_id, topic, timeout_s, remove=remove, ack=ack
        )

    # --- east-west, receiving -------------------------------------------------------

    async def receive(self, source_node_id: str, messages: Sequence[IncomingMessage]) -> Received:
        """Store a partner's batch in order, as far as it goes (see ``QueueEngine``);
        the payload bytes of what was accepted (resends too) are counted."""
        result = await self._queues.receive(source_node_id, messages)
        if self._meter is not None and result.accepted:
            size = sum(len(m.payload) for m in messages[: result.accepted])
            self._meter.received_from(source_node_id, size)
        return result

    async def receive_all(self, source_node_id: str, messages: Sequence[IncomingMessage]) -> int:
        """``receive`` for single-message calls: the refusal, if any, is raised."""
        result = await self.receive(source_node_id, messages)
        if result.refusal is not None:
            raise result.refusal
        return result.stored

    # --- east-west, sending ---------------------------------------------------------

    async def run_forwarder(self) -> None:
        """Deliver the out queue forever (``Forwarder.run``)."""
        await self._forwarder.run()

    async def forward_once(self, backoff: Backoff | None = None) -> bool:
        """One batch to every partner with messages waiting; True if any progress."""
        return await self._forwarder.forward_once(backoff)
