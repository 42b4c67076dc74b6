"""The transport queues' single authority: decide in memory, make durable by group commit.

One node process owns its queues (the node refuses to start twice on one home), so
every rule is checked against in-memory state: sessions and tokens, per-session limits,
sequence numbers, resend marks, which message a pop gets. Each decision is added to the
batch being built and the caller awaits the commit of that batch; a committer task
writes whatever has accumulated in one transaction (``TransportStore.commit``). Under
load many pushes, pops and partner batches share a transaction; idle, a lone push
commits at once.

Nothing is observable before it is durable: a push is answered OK, a message is handed
to the forwarder, a received message becomes poppable. If a commit fails, its callers get
``E0000000500`` and the engine reloads its state from the store, which is the truth.

**A pop loses nothing.** A popped message is *in flight* until its reply is handed to the
client's connection: ``pop`` returns a ``Delivery``, and only ``Delivery.delivered()``
removes the message from the store (a later commit, not awaited by anyone). A reply that
could not be sent (client gone, call cancelled, send failed) calls ``Delivery.returned()``
and the message is back at the head of its queue, in order. While one message of a queue
is in flight, that queue gives nothing else out, so a returned message is never overtaken.
A node that dies between the reply and the removal's commit delivers the message again
after restart: at least once across crashes, exactly once otherwise.

A reply handed to a connection can still be lost by the client (it closes the socket
unread, or cancels a gRPC call whose reply is already on the wire); no server can tell.
Clients that need exactly once through that too use the explicit acknowledgement (an
Isthmus extension, ``take(ack=...)``): such a pop names the last delivery it received
(``x-isthmus-ack``), its message stays in flight until a later pop of the queue names
it (removed) or names an older one (the client never got it: given out again), or until
``ACK_LEASE_S`` pass without a word. One consumer per queue in this mode.

**Sessions belong to parties and tokens.** A session records its token's digest and the
partners of its job (``parties``). Every south-north call must carry the token (a missing
or empty token is refused like a wrong one, compared in constant time); an east-west
message is accepted only from a party, within that party's share of the session's limits;
a component may push only to a party. A session with no parties recorded (opened before
parties existed, or by an operator naming none) accepts and sends nothing east-west.

**The committer is supervised.** Shared commit results are shielded from the cancellation
of any one caller. If the commit loop fails anyway, the failure is logged, the callers
waiting on it are refused with ``E0000000500``, and it is restarted; after
``MAX_COMMITTER_RESTARTS`` failures in ``RESTART_WINDOW_S`` it stays down, every call is
refused at once, and ``alive`` is False (the node's ``/readyz`` says so).

What each session holds, and the limits it must stay within, is counted by
``transport.accounting`` (``Accounting``), which the engine asks before it decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from isthmus.crypto.digests import token_digest
from isthmus.store.transport import (
    OPEN,
    RELEASED,
    Batch,
    FragmentHeld,
    FragmentKey,
    InEntry,
    NewFragment,
    NewIn,
    OutMessage,
    SessionRecord,
    Snapshot,
    StreamKey,
    TransportStore,
)
from isthmus.transport.accounting import Accounting, QueueDepths, QueueLimits
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import TransportRefused
from isthmus.wire.ptp import PtpCode, checked_id

log = logging.getLogger(__name__)

QueueKey = tuple[str, str, str]  # session, partner node, topic

#: Stands for "any partner" in the wake-up key of a pop without a target node.
ANY_PEER = ""

#: Persist a session's last activity at most this often (it only drives expiry).
TOUCH_EVERY_MS = 5_000

#: The committer is restarted after a failure, but not more than this often in
#: ``RESTART_WINDOW_S``: past that it stays down and the node reports itself unready.
MAX_COMMITTER_RESTARTS = 5
RESTART_WINDOW_S = 60.0

#: An acknowledged-mode delivery nobody acknowledged for this long is given out again.
ACK_LEASE_S = 60.0


@dataclass(frozen=True)
class IncomingMessage:
    """One message (or fragment of one) a partner delivered. ``seq`` is None for
    partners that number nothing (pass-through invoke from other platforms): those are
    stored as they come, without resend filtering."""

    session_id: str
    topic: str
    seq: int | None
    payload: bytes
    fragment: tuple[int, int] | None = None  # (index, count)


@dataclass(frozen=True)
class Received:
    """The outcome of a partner's batch: the first ``accepted`` messages are durable
    here (``stored`` of them were new); ``refusal``, if any, is why the rest were not."""

    accepted: int
    stored: int
    refusal: TransportRefused | None = None
    refused_session: str | None = None


class Delivery:
    """A popped (or peeked) message on its way to the client.

    The caller hands ``payload`` to the client and then says how it went, exactly once:
    ``delivered()`` (the reply was handed to the client's connection: the message's
    removal is committed) or ``returned()`` (it was not: the message goes back to the
    head of its queue). Until then its queue gives nothing else out. A peek's delivery
    holds nothing and both calls are no-ops."""

    __slots__ = ("_engine", "entry", "generation", "held_until", "payload", "settled")

    def __init__(
        self, engine: QueueEngine | None, entry: InEntry | None, generation: int, payload: bytes
    ) -> None:
        self._engine = engine
        self.entry = entry
        self.generation = generation
        self.payload = payload
        self.settled = False
        #: Set for an acknowledged-mode delivery: the loop time its lease ends.
        self.held_until: float | None = None

    @property
    def id(self) -> int:
        """What an acknowledging client names in ``x-isthmus-ack`` (0: a peek)."""
        return self.entry.id if self.entry is not None else 0

    def delivered(self) -> None:
        if self._engine is not None:
            self._engine._settle(self, delivered=True)

    def returned(self) -> None:
        if self._engine is not None:
            self._engine._settle(self, delivered=False)


@dataclass
class _Pending:
    batch: Batch
    done: asyncio.Future[dict[int, bytes]]
    effects: list[Callable[[], None]] = field(default_factory=list)


class QueueEngine:
    def __init__(
        self,
        store: TransportStore,
        limits: QueueLimits | None = None,
        *,
        out_memory_bytes: int = 64 * 1024 * 1024,
        in_memory_bytes: int = 64 * 1024 * 1024,
        inline_commit_bytes: int = 256 * 1024,
    ) -> None:
        self.store = store
        #: What each session holds, within ``limits`` (``transport.accounting``).
        self._accounting = Accounting(limits or QueueLimits())
        self.out_memory_bytes = out_memory_bytes
        #: Payloads of unread, unspilled in messages kept in memory up to this many bytes,
        #: so a pop needs no read from the store (the store keeps them all the same).
        self.in_memory_bytes = in_memory_bytes
        # SQLite commits of small batches take tens of microseconds: cheaper on the event
        # loop than a hop into a thread. Large batches and network databases go to a thread.
        self.inline_commit_bytes = inline_commit_bytes if store.dialect == "sqlite" else -1
        self._loaded = False
        self._load_lock = asyncio.Lock()
        #: Clear while a failed commit's state is being reloaded: operations wait.
        self._settled = asyncio.Event()
        self._settled.set()
        self._committer: asyncio.Task[None] | None = None
        self._committing: _Pending | None = None
        self._failures: deque[float] = deque()
        self._dead = False
        self._dirty = asyncio.Event()
        self._pending: _Pending | None = None
        self._arrivals: dict[QueueKey, asyncio.Event] = {}
        self._generation = 0
        self._reset_memory()
        #: Set when messages are ready to forward (the forwarder waits on it).
        self.outgoing = asyncio.Event()

    def _reset_memory(self) -> None:
        self._sessions: dict[str, SessionRecord] = {}
        self._touch_persisted: dict[str, int] = {}
        self._accounting.clear()
        self._next_seq: dict[StreamKey, int] = {}
        self._upto: dict[StreamKey, int] = {}
        self._forward: dict[str, OrderedDict[int, OutMessage]] = {}
        self._out_memory = 0
        self._inbox: dict[QueueKey, deque[InEntry]] = {}
        self._fragments: dict[FragmentKey, FragmentHeld] = {}
        self._out_id = 0
        self._in_id = 0
        #: Popped messages whose reply is on its way, by id; the queues they block.
        self._inflight: dict[int, InEntry] = {}
        self._busy: dict[QueueKey, int] = {}
        #: In-flight messages whose queue was released meanwhile: dropped when settled.
        self._doomed: set[int] = set()
        #: Acknowledged-mode deliveries awaiting their acknowledgement, by queue.
        self._held: dict[QueueKey, Delivery] = {}
        #: Payloads of in messages received since the last load, by id (a copy of what
        #: the store holds, within ``in_memory_bytes``; forgotten when the row goes).
        self._in_payloads: dict[int, bytes] = {}
        self._in_payload_bytes = 0
        #: Bumped on every reload: deliveries of an older generation were reloaded as queued.
        self._generation += 1

    # --- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Load the durable state (every operation calls this first; after a failed
        commit it waits for the reload, and after a failed reload it loads again)."""
        if self._dead:
            raise TransportRefused(
                PtpCode.SYSTEM_ERROR, "the transport committer is down; the node needs a restart"
            )
        if self._loaded and self._settled.is_set():
            return
        await self._settled.wait()
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            snapshot = await asyncio.to_thread(
                self.store.load, out_memory_bytes=self.out_memory_bytes
            )
            self._install(snapshot)
            self._pending = self._new_pending()
            if self._committer is None or self._committer.done():
                self._committer = asyncio.create_task(self._supervise(), name="transport-commit")
            self._loaded = True

    @property
    def alive(self) -> bool:
        """False once the committer failed too often to be restarted (``/readyz``)."""
        return not self._dead

    async def aclose(self) -> None:
        """Finish the commit under way and commit what is pending (acknowledgements and
        delivered pops are not awaited by anyone), then stop."""
        if self._committer is not None and not self._committer.done():
            with contextlib.suppress(Exception):
                if self._committing is not None:
                    await asyncio.shield(self._committing.done)
                if self._batch.batch:
                    await self._committed()
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        self._committer, self._loaded = None, False
        self.store.close()  # the committer's held connection

    def _install(self, snapshot: Snapshot) -> None:
        self._reset_memory()
        self._sessions = snapshot.sessions
        self._touch_persisted = {
            s.session_id: s.last_activity_at for s in snapshot.sessions.values()
        }
        self._next_seq = snapshot.next_seq
        self._upto = snapshot.received_upto
        self._fragments = snapshot.fragments
        self._out_id, self._in_id = snapshot.max_out_id, snapshot.max_in_id
        for message in snapshot.out:
            self._accounting.hold_out(message.session_id, message.size)
            self._enqueue_forward(message, loaded=True)
        for entry in snapshot.inbox:
            self._accounting.hold_in(entry)
            self._inbox.setdefault(_key(entry), deque()).append(entry)
        if snapshot.out:
            self.outgoing.set()

    # --- group commit ---------------------------------------------------------------

    def _new_pending(self) -> _Pending:
        done: asyncio.Future[dict[int, bytes]] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_consume)  # callers that went away do not leave it unread
        return _Pending(Batch(), done)

    @property
    def _batch(self) -> _Pending:
        assert self._pending is not None, "QueueEngine.start() was not awaited"
        return self._pending

    def _flush(self) -> asyncio.Future[dict[int, bytes]]:
        """The future of the batch being built; its commit is due at the next loop turn.

        Many callers share it: await it only through ``_committed`` (shielded), so that
        one caller's cancellation never cancels the result the others wait for."""
        self._dirty.set()
        return self._batch.done

    async def _committed(self) -> dict[int, bytes]:
        """Wait for the commit of the batch being built, immune to this caller's
        cancellation as far as the others are concerned."""
        return await asyncio.shield(self._flush())

    async def _recover(self, failed: list[_Pending]) -> None:
        """After a failed commit, memory is ahead of the store: the failed batch and the
        one built meanwhile (decided on top of it) are refused, memory is reloaded, and
        operations wait until it is. Waiting pops look again."""
        self._settled.clear()
        failed.append(self._batch)
        self._pending = self._new_pending()
        try:
            snapshot = await asyncio.to_thread(
                self.store.load, out_memory_bytes=self.out_memory_bytes
            )
            self._install(snapshot)
        except Exception:
            log.exception("reloading the transport queues failed; the next call retries")
            self._loaded = False
        finally:
            self._settled.set()
        failure = TransportRefused(PtpCode.SYSTEM_ERROR, "storage failure; retry")
        for pending in failed:
            if not pending.done.done():
                pending.done.set_exception(failure)
        self._wake_all()

    async def _supervise(self) -> None:
        """Run the commit loop; when it fails, log it, refuse the callers waiting on it,
        reload, and restart it, unless it failed too often: then stay down (``alive``)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self._commit_forever()
            except Exception:
                log.exception("the transport committer failed")
            failed = [p for p in (self._committing,) if p is not None]
            self._committing = None
            now = loop.time()
            self._failures.append(now)
            while self._failures and self._failures[0] < now - RESTART_WINDOW_S:
                self._failures.popleft()
            if len(self._failures) > MAX_COMMITTER_RESTARTS:
                self._dead = True
                log.error(
                    "the transport committer failed %d times in %.0f s; it stays down and "
                    "every transport call is refused until the node restarts",
                    len(self._failures),
                    RESTART_WINDOW_S,
                )
                failure = TransportRefused(PtpCode.SYSTEM_ERROR, "the transport committer is down")
                for pending in (*failed, self._batch):
                    if not pending.done.done():
                        pending.done.set_exception(failure)
                self._wake_all()
                return
            await self._recover(failed)

    async def _commit_forever(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            pending, self._pending = self._batch, self._new_pending()
            self._committing = pending
            batch = pending.batch
            try:
                if not batch:
                    taken: dict[int, bytes] = {}
                else:
                    batch.created_at = now_ms()
                    if batch.payload_bytes <= self.inline_commit_bytes:
                        taken = self.store.commit(batch)
                    else:
                        taken = await asyncio.to_thread(self.store.commit, batch)
            except Exception:
                log.exception("transport commit failed; reloading the queues from the store")
                self._committing = None
                await self._recover([pending])
                continue
            for effect in pending.effects:
                effect()
            self._committing = None
            if not pending.done.done():
                pending.done.set_result(taken)

    # --- sessions -------------------------------------------------------------------

    async def open_session(
        self, session_id: str, token: str, parties: frozenset[str] = frozenset()
    ) -> bool:
        """Register a session whose partners are ``parties`` (the job's parties other
        than this node: the only nodes whose messages it accepts and to which its
        components may push); False if it already existed (then the token and the
        parties must be the same)."""
        checked_id(session_id, "session_id")
        for party in parties:
            checked_id(party, "parties")
        if not token:
            raise TransportRefused(PtpCode.BAD_REQUEST, "a session needs a token")
        await self.start()
        known = self._sessions.get(session_id)
        if known is not None:
            if not hmac.compare_digest(known.token_sha256, token_digest(token)):
                raise TransportRefused(
                    PtpCode.UNAUTHORIZED, f"session {session_id} exists with another token"
                )
            if known.parties != parties:
                raise TransportRefused(
                    PtpCode.BAD_REQUEST, f"session {session_id} exists with other parties"
                )
            return False
        stamp = now_ms()
        record = SessionRecord(
            session_id, token_digest(token), OPEN, stamp, stamp, parties=frozenset(parties)
        )
        self._sessions[session_id] = record
        self._touch_persisted[session_id] = stamp
        self._batch.batch.new_sessions.append(record)
        await self._committed()
        return True

    def _check(self, session_id: str, token: str | None) -> SessionRecord:
        """The open session, or a refusal: unknown (404), released (608), bad token (403).

        ``token`` None is for callers inside the node and for partners (authenticated by
        their signature, then held to the session's parties); any string is a local
        component's, and must be the session's token: an empty one is refused like a
        wrong one. The digests are compared in constant time."""
        record = self._sessions.get(session_id)
        if record is None:
            raise TransportRefused(PtpCode.NOT_FOUND, f"unknown session {session_id!r}")
        if record.state == RELEASED:
            raise TransportRefused(PtpCode.SESSION_RELEASED, f"session {session_id} was released")
        if token is not None:
            matches = hmac.compare_digest(record.token_sha256, token_digest(token))
            if not (token and matches):
                raise TransportRefused(
                    PtpCode.UNAUTHORIZED,
                    f"{'wrong' if token else 'missing'} x-ptp-token for session {session_id}",
                )
        return record

    @staticmethod
    def _party(record: SessionRecord, node_id: str) -> None:
        """Refuse (403) a partner that is not a party of the session."""
        if node_id not in record.parties:
            raise TransportRefused(
                PtpCode.UNAUTHORIZED,
                f"node {node_id} is not a party of session {record.session_id}",
            )

    def _touch(self, record: SessionRecord) -> None:
        stamp = now_ms()
        record.last_activity_at = stamp
        if stamp - self._touch_persisted.get(record.session_id, 0) >= TOUCH_EVERY_MS:
            self._touch_persisted[record.session_id] = stamp
            self._batch.batch.touched[record.session_id] = stamp

    @property
    def limits(self) -> QueueLimits:
        return self._accounting.limits

    @limits.setter
    def limits(self, limits: QueueLimits) -> None:
        self._accounting.limits = limits

    def usage(self, session_id: str) -> dict[str, int]:
        """Pending counts of a session (for the admin API and tests)."""
        return self._accounting.usage(session_id)

    def depths(self) -> QueueDepths:
        """What every session holds, both ways (``/metrics``); read on the loop."""
        return self._accounting.totals()

    async def session_records(self) -> list[SessionRecord]:
        """Every session the engine knows, open and released (for the admin API: the
        caller shows them, never their token digests); read on the loop."""
        await self.start()
        return list(self._sessions.values())

    # --- sender side ----------------------------------------------------------------

    async def push(
        self, session_id: str, token: str | None, peer_node_id: str, topic: str, payload: bytes
    ) -> OutMessage:
        """Accept a component's message for a partner: durable when this returns."""
        await self.start()
        size = len(payload)
        if size > self.limits.max_message_bytes:
            raise TransportRefused(
                PtpCode.TOO_LARGE,
                f"payload of {size} bytes exceeds {self.limits.max_message_bytes}",
            )
        record = self._check(session_id, token)
        self._party(record, peer_node_id)
        self._accounting.reserve_out(session_id, size)
        stream = (session_id, peer_node_id)
        seq = self._next_seq.get(stream, 1)
        self._next_seq[stream] = seq + 1
        self._out_id += 1
        message = OutMessage(
            self._out_id,
            session_id,
            peer_node_id,
            topic,
            seq,
            payload,
            size,
            self.store.should_spill(size),
        )
        pending = self._batch
        pending.batch.next_seq[stream] = seq + 1
        pending.batch.out_new.append(message)
        pending.effects.append(lambda: self._enqueue_forward(message))
        self._touch(record)
        await self._committed()
        return message

    def _enqueue_forward(self, message: OutMessage, *, loaded: bool = False) -> None:
        if message.payload is not None:
            if self._out_memory + message.size > self.out_memory_bytes:
                message = dataclasses.replace(message, payload=None)  # read back when sent
            else:
                self._out_memory += message.size
        self._forward.setdefault(message.peer_node_id, OrderedDict())[message.id] = message
        if not loaded:
            self.outgoing.set()

    def outgoing_by_peer(self) -> dict[str, list[OutMessage]]:
        """Messages waiting for each partner, in acceptance order (per stream that is
        sequence order). They stay queued until ``acknowledge``."""
        return {peer: list(queue.values()) for peer, queue in self._forward.items() if queue}

    async def payloads(self, messages: Sequence[OutMessage]) -> list[bytes]:
        """The payloads of ``messages``, read back from the store where memory let go."""
        missing = [m.id for m in messages if m.payload is None]
        found = await asyncio.to_thread(self.store.read_out, missing) if missing else {}
        return [m.payload if m.payload is not None else found[m.id] for m in messages]

    def acknowledge(self, messages: Iterable[OutMessage]) -> None:
        """The partner stored these (or they can never be delivered): forget them. Not
        awaited: if the node dies first, they are resent and the partner drops them."""
        done = self._batch.batch.out_done
        for message in messages:
            queue = self._forward.get(message.peer_node_id)
            held = queue.pop(message.id, None) if queue is not None else None
            if held is None:
                continue  # already forgotten (released, expired, or a reload)
            if held.payload is not None:
                self._out_memory -= held.size
            self._accounting.unreserve_out(held.session_id, held.size)
            done.append(held.id)
        if done:
            self._flush().add_done_callback(_consume)

    # --- receiver side --------------------------------------------------------------

    async def receive(self, source_node_id: str, messages: Sequence[IncomingMessage]) -> Received:
        """Store a partner's batch in order, as far as it can go. Messages at or below
        their stream's mark are resends and skipped; the first message that cannot be
        stored stops the batch, and everything before it is committed anyway."""
        await self.start()
        pending = self._batch
        accepted = stored = 0
        refusal: TransportRefused | None = None
        refused_session: str | None = None
        touched: dict[str, SessionRecord] = {}
        for message in messages:
            try:
                record = self._check(message.session_id, None)
                self._party(record, source_node_id)
                if self._receive_one(record, source_node_id, message, pending):
                    stored += 1
            except TransportRefused as exc:
                refusal, refused_session = exc, message.session_id
                break
            touched[record.session_id] = record
            accepted += 1
        for record in touched.values():
            self._touch(record)
        if accepted:
            await self._committed()
        return Received(accepted, stored, refusal, refused_session)

    def _receive_one(
        self, record: SessionRecord, source: str, message: IncomingMessage, pending: _Pending
    ) -> bool:
        """Add one message or fragment to the batch; True if a message became poppable."""
        stream = (message.session_id, source)
        seq = message.seq
        if seq is not None and seq <= self._upto.get(stream, 0):
            return False  # a resend
        if message.fragment is not None:
            return self._receive_fragment(record, source, message, pending)
        self._accounting.reserve_in(record, source, len(message.payload))
        self._in_id += 1
        size = len(message.payload)
        spilled = self.store.should_spill(size)
        entry = InEntry(self._in_id, message.session_id, source, message.topic, size, spilled)
        stored_seq = seq if seq is not None else -entry.id
        payload = message.payload
        pending.batch.in_new.append(NewIn(entry, stored_seq, payload))
        if seq is not None:
            self._upto[stream] = pending.batch.received_upto[stream] = seq
        pending.effects.append(lambda: self._deliver(entry, payload))
        return True

    def _receive_fragment(
        self, record: SessionRecord, source: str, message: IncomingMessage, pending: _Pending
    ) -> bool:
        assert message.fragment is not None
        index, count = message.fragment
        seq = message.seq
        if seq is None or not 0 <= index < count:
            raise TransportRefused(
                PtpCode.BAD_REQUEST, f"fragment {index} of {count} without a usable sequence"
            )
        key = (message.session_id, source, seq)
        held = self._fragments.get(key)
        if held is not None and held.count != count:
            raise TransportRefused(PtpCode.BAD_REQUEST, f"inconsistent fragments of {seq}")
        if held is not None and index in held.indices:
            return False  # a resent fragment
        indices = (held.indices if held else frozenset()) | {index}
        size = (held.size if held else 0) + len(message.payload)
        if size > self.limits.max_message_bytes:
            raise TransportRefused(
                PtpCode.TOO_LARGE, f"message {seq} exceeds {self.limits.max_message_bytes} bytes"
            )
        complete = len(indices) == count
        if complete:  # check room before keeping the last piece, so a refusal keeps nothing
            self._accounting.reserve_in(record, source, size)
        pending.batch.fragments_new.append(
            NewFragment(key, index, count, message.topic, message.payload)
        )
        if not complete:
            self._fragments[key] = FragmentHeld(count, message.topic, indices, size)
            return False
        self._fragments.pop(key, None)
        self._in_id += 1
        entry = InEntry(
            self._in_id,
            message.session_id,
            source,
            message.topic,
            size,
            self.store.should_spill(size),
        )
        pending.batch.fragments_joined.append((key, entry))
        stream = (message.session_id, source)
        self._upto[stream] = pending.batch.received_upto[stream] = seq
        pending.effects.append(lambda: self._deliver(entry))
        return True

    def _deliver(self, entry: InEntry, payload: bytes | None = None) -> None:
        record = self._sessions.get(entry.session_id)
        if record is None or record.state == RELEASED:  # released while it was committed
            self._accounting.unreserve_in(entry)
            self._drop_in(entry.id)
            self._flush().add_done_callback(_consume)
            return
        if (
            payload is not None
            and not entry.spilled
            and self._in_payload_bytes + len(payload) <= self.in_memory_bytes
        ):
            self._in_payloads[entry.id] = payload
            self._in_payload_bytes += len(payload)
        key = _key(entry)
        self._inbox.setdefault(key, deque()).append(entry)
        for waiting in (key, (entry.session_id, ANY_PEER, entry.topic)):
            event = self._arrivals.pop(waiting, None)
            if event is not None:
                event.set()

    # --- popping --------------------------------------------------------------------

    async def take(
        self,
        session_id: str,
        token: str | None,
        peer_node_id: str | None,
        topic: str,
        *,
        remove: bool,
        ack: int | None = None,
    ) -> Delivery | None:
        """The oldest message of the queue: in flight until the caller settles the
        ``Delivery`` (pop), or left in place (peek).

        ``peer_node_id`` None (FATE's OSX client pops without ``x-ptp-target-node-id``)
        takes the oldest message of ``topic`` in the session from whichever partner. A
        queue with a message in flight gives nothing out until it is settled.

        ``ack`` (acknowledged mode, needs ``peer_node_id``): the id of the last delivery
        the client received of this queue (0: none). It settles the queue's held
        delivery (removed if named, given out again if not) and the delivery returned
        is held in turn: the caller does not settle it."""
        await self.start()
        record = self._check(session_id, token)
        if ack is not None:
            if peer_node_id is None or not remove:
                raise TransportRefused(
                    PtpCode.BAD_REQUEST, "x-isthmus-ack needs a pop with x-ptp-target-node-id"
                )
            held = self._held.get((session_id, peer_node_id, topic))
            if held is not None:
                if held.id == ack:
                    held.delivered()
                else:
                    held.returned()
        queue = self._queue_for(session_id, peer_node_id, topic)
        if not queue:
            return None
        if not remove:
            found = await self._read_in(queue[0])
            return None if found is None else Delivery(None, None, self._generation, found)
        entry = queue.popleft()
        generation = self._generation
        self._inflight[entry.id] = entry
        self._busy[_key(entry)] = entry.id
        delivery = Delivery(self, entry, generation, b"")
        try:
            payload = await self._read_in(entry)
        except BaseException:
            delivery.returned()
            raise
        if payload is None:  # cannot happen while this engine is the only writer
            delivery.delivered()
            return None
        delivery.payload = payload
        self._touch(record)
        if ack is not None:
            delivery.held_until = asyncio.get_running_loop().time() + ACK_LEASE_S
            self._held[_key(entry)] = delivery
        return delivery

    def _settle(self, delivery: Delivery, *, delivered: bool) -> None:
        """The end of a popped message's flight: removed for good (by the next commit),
        or back at the head of its queue in order, waking the pops waiting on it."""
        entry = delivery.entry
        if entry is None or delivery.settled:
            return
        delivery.settled = True
        key = _key(entry)
        if self._held.get(key) is delivery:
            del self._held[key]
        if delivery.generation != self._generation:
            # Memory was reloaded since: the message is queued again (its removal was
            # never committed). Delivered after all: take it out of the queue now.
            queue = self._inbox.get(key)
            if not delivered or queue is None or entry.id not in {e.id for e in queue}:
                return
            self._inbox[key] = deque(e for e in queue if e.id != entry.id)
        else:
            self._inflight.pop(entry.id, None)
            if self._busy.get(key) == entry.id:
                del self._busy[key]
            doomed = entry.id in self._doomed
            self._doomed.discard(entry.id)
            record = self._sessions.get(entry.session_id)
            if not (delivered or doomed or record is None or record.state == RELEASED):
                queue = self._inbox.setdefault(key, deque())
                at = 0
                while at < len(queue) and queue[at].id < entry.id:
                    at += 1
                queue.insert(at, entry)
                self._wake(key)
                return
        self._accounting.unreserve_in(entry)
        self._drop_in(entry.id)
        self._dirty.set()
        self._wake(key)

    def _wake(self, key: QueueKey) -> None:
        for waiting in (key, (key[0], ANY_PEER, key[2])):
            event = self._arrivals.pop(waiting, None)
            if event is not None:
                event.set()

    def _queue_for(
        self, session_id: str, peer_node_id: str | None, topic: str
    ) -> deque[InEntry] | None:
        if self._held:  # acknowledged-mode deliveries whose client went quiet
            now = asyncio.get_running_loop().time()
            for held in [d for d in self._held.values() if (d.held_until or 0.0) <= now]:
                held.returned()
        if peer_node_id is not None:
            key = (session_id, peer_node_id, topic)
            return None if key in self._busy else self._inbox.get(key)
        candidates = [
            queue
            for key, queue in self._inbox.items()
            if key[0] == session_id and key[2] == topic and queue and key not in self._busy
        ]
        return min(candidates, key=lambda q: q[0].id) if candidates else None

    def _drop_in(self, entry_id: int, batch: Batch | None = None) -> None:
        """Remove an in message for good (by the next commit), and its payload's copy."""
        (batch or self._batch.batch).in_drop.append(entry_id)
        payload = self._in_payloads.pop(entry_id, None)
        if payload is not None:
            self._in_payload_bytes -= len(payload)

    async def _read_in(self, entry: InEntry) -> bytes | None:
        kept = self._in_payloads.get(entry.id)
        if kept is not None:
            return kept
        if entry.size <= self.inline_commit_bytes:
            return self.store.read_in_one(entry)
        return await asyncio.to_thread(self.store.read_in_one, entry)

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
        """The next message of the queue, waiting up to ``timeout_s`` for one; the
        caller must settle the ``Delivery`` unless ``ack`` is given (see ``take``)."""
        key = (session_id, peer_node_id or ANY_PEER, topic)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout_s)
        while True:
            # Take the event *before* looking, so an arrival in between still wakes us.
            arrived = self._arrivals.setdefault(key, asyncio.Event())
            delivery = await self.take(
                session_id, token, peer_node_id, topic, remove=remove, ack=ack
            )
            remaining = deadline - loop.time()
            if delivery is not None or remaining <= 0:
                return delivery
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), remaining)

    # --- release and expiry ---------------------------------------------------------

    async def release(self, session_id: str, token: str | None, topic: str | None) -> int:
        """Release a whole session (unread data dropped, later pushes refused: 608), or
        only one topic's unread data. Messages already accepted for partners still go.
        Returns how many unread messages were dropped."""
        await self.start()
        self._check(session_id, token)
        dropped = self._drop_inbox(session_id, topic)
        if topic is None:
            self._close(session_id)
        await self._committed()
        self._wake_session(session_id)
        return dropped

    async def expire_idle(self, idle_ms: int) -> list[str]:
        """Release sessions nobody used for ``idle_ms``, dropping everything they hold,
        outgoing messages included; returns their ids."""
        await self.start()
        cutoff = now_ms() - idle_ms
        idle = [
            s.session_id
            for s in self._sessions.values()
            if s.state == OPEN and s.last_activity_at < cutoff
        ]
        for session_id in idle:
            self._drop_inbox(session_id, None)
            self._close(session_id)
            for queue in self._forward.values():
                doomed = [m for m in queue.values() if m.session_id == session_id]
                self.acknowledge(doomed)
        if idle:
            await self._committed()
            for session_id in idle:
                self._wake_session(session_id)
        return idle

    def _drop_inbox(self, session_id: str, topic: str | None) -> int:
        batch = self._batch.batch
        dropped = 0
        for key in [k for k in self._inbox if k[0] == session_id and topic in (None, k[2])]:
            for entry in self._inbox.pop(key):
                self._drop_in(entry.id, batch)
                self._accounting.unreserve_in(entry)
                dropped += 1
        for entry in self._inflight.values():  # dropped when their delivery is settled
            matches = entry.session_id == session_id and topic in (None, entry.topic)
            if matches and entry.id not in self._doomed:
                self._doomed.add(entry.id)
                dropped += 1
        return dropped

    def _close(self, session_id: str) -> None:
        record = self._sessions[session_id]
        record.state, record.released_at = RELEASED, now_ms()
        batch = self._batch.batch
        batch.session_states[session_id] = (RELEASED, record.released_at)
        batch.fragments_dropped_sessions.add(session_id)
        for key in [k for k in self._fragments if k[0] == session_id]:
            del self._fragments[key]

    def _wake_session(self, session_id: str) -> None:
        """Waiting pops look again and see the release."""
        for key in [k for k in self._arrivals if k[0] == session_id]:
            self._arrivals.pop(key).set()

    def _wake_all(self) -> None:
        for event in self._arrivals.values():
            event.set()
        self._arrivals.clear()


def _key(entry: InEntry) -> QueueKey:
    return (entry.session_id, entry.peer_node_id, entry.topic)


def _consume(future: asyncio.Future[dict[int, bytes]]) -> None:
    """Mark a fire-and-forget commit's failure as seen (it was logged already)."""
    if not future.cancelled():
        future.exception()
