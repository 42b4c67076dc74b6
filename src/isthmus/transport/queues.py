"""The transport queues' single authority: decide in memory, make durable by group commit.

One node process owns its queues (the node refuses to start twice on one home), so
every rule is checked against in-memory state: sessions and tokens, per-session limits,
sequence numbers, resend marks, which message a pop gets. Each decision is added to the
batch being built and the caller awaits the commit of that batch; a committer task
writes whatever has accumulated in one transaction (``TransportStore.commit``). Under
load many pushes, pops and partner batches share a transaction; idle, a lone push
commits at once.

Nothing is observable before it is durable: a push is answered OK, a message is handed
to the forwarder, a received message becomes poppable, and a popped payload is returned
only after the commit that records it. If a commit fails, its callers get
``E0000000500`` and the engine reloads its state from the store, which is the truth.
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

from isthmus.store.db import now_ms
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
    token_digest,
)
from isthmus.wire.errors import TransportRefused
from isthmus.wire.ptp import PtpCode

log = logging.getLogger(__name__)

QueueKey = tuple[str, str, str]  # session, partner node, topic

#: Stands for "any partner" in the wake-up key of a pop without a target node.
ANY_PEER = ""

#: Persist a session's last activity at most this often (it only drives expiry).
TOUCH_EVERY_MS = 5_000


@dataclass(frozen=True)
class QueueLimits:
    """Per-session bounds; past them a push is answered E0000000700 (retry later)."""

    max_message_bytes: int = 64 * 1024 * 1024
    max_session_messages: int = 100_000
    max_session_bytes: int = 512 * 1024 * 1024


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


@dataclass
class _Usage:
    out_count: int = 0
    out_bytes: int = 0
    in_count: int = 0
    in_bytes: int = 0


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
        inline_commit_bytes: int = 256 * 1024,
    ) -> None:
        self.store = store
        self.limits = limits or QueueLimits()
        self.out_memory_bytes = out_memory_bytes
        # SQLite commits of small batches take tens of microseconds: cheaper on the event
        # loop than a hop into a thread. Large batches and network databases go to a thread.
        self.inline_commit_bytes = inline_commit_bytes if store.dialect == "sqlite" else -1
        self._loaded = False
        self._load_lock = asyncio.Lock()
        #: Clear while a failed commit's state is being reloaded: operations wait.
        self._settled = asyncio.Event()
        self._settled.set()
        self._committer: asyncio.Task[None] | None = None
        self._dirty = asyncio.Event()
        self._pending: _Pending | None = None
        self._arrivals: dict[QueueKey, asyncio.Event] = {}
        self._reset_memory()
        #: Set when messages are ready to forward (the forwarder waits on it).
        self.outgoing = asyncio.Event()

    def _reset_memory(self) -> None:
        self._sessions: dict[str, SessionRecord] = {}
        self._touch_persisted: dict[str, int] = {}
        self._usage: dict[str, _Usage] = {}
        self._next_seq: dict[StreamKey, int] = {}
        self._upto: dict[StreamKey, int] = {}
        self._forward: dict[str, OrderedDict[int, OutMessage]] = {}
        self._out_memory = 0
        self._inbox: dict[QueueKey, deque[InEntry]] = {}
        self._fragments: dict[FragmentKey, FragmentHeld] = {}
        self._out_id = 0
        self._in_id = 0

    # --- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Load the durable state (every operation calls this first; after a failed
        commit it waits for the reload, and after a failed reload it loads again)."""
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
                self._committer = asyncio.create_task(
                    self._commit_forever(), name="transport-commit"
                )
            self._loaded = True

    async def aclose(self) -> None:
        """Commit what is pending (acknowledgements are not awaited by anyone), then stop."""
        if self._committer is not None and not self._committer.done() and self._batch.batch:
            with contextlib.suppress(Exception):
                await self._flush()
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
            usage = self._usage_of(message.session_id)
            usage.out_count += 1
            usage.out_bytes += message.size
            self._enqueue_forward(message, loaded=True)
        for entry in snapshot.inbox:
            usage = self._usage_of(entry.session_id)
            usage.in_count += 1
            usage.in_bytes += entry.size
            self._inbox.setdefault(_key(entry), deque()).append(entry)
        if snapshot.out:
            self.outgoing.set()

    # --- group commit ---------------------------------------------------------------

    def _new_pending(self) -> _Pending:
        return _Pending(Batch(), asyncio.get_running_loop().create_future())

    @property
    def _batch(self) -> _Pending:
        assert self._pending is not None, "QueueEngine.start() was not awaited"
        return self._pending

    def _flush(self) -> asyncio.Future[dict[int, bytes]]:
        """The future of the batch being built; its commit is due at the next loop turn."""
        self._dirty.set()
        return self._batch.done

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
            pending.done.set_exception(failure)
            pending.done.add_done_callback(_consume)
        self._wake_all()

    async def _commit_forever(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            pending, self._pending = self._batch, self._new_pending()
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
                await self._recover([pending])
                continue
            for effect in pending.effects:
                effect()
            pending.done.set_result(taken)

    # --- sessions -------------------------------------------------------------------

    async def open_session(self, session_id: str, token: str) -> bool:
        """Register a session; False if it already existed (then the token must match)."""
        await self.start()
        known = self._sessions.get(session_id)
        if known is not None:
            if not hmac.compare_digest(known.token_sha256, token_digest(token)):
                raise TransportRefused(
                    PtpCode.UNAUTHORIZED, f"session {session_id} exists with another token"
                )
            return False
        stamp = now_ms()
        record = SessionRecord(session_id, token_digest(token), OPEN, stamp, stamp)
        self._sessions[session_id] = record
        self._touch_persisted[session_id] = stamp
        self._batch.batch.new_sessions.append(record)
        await self._flush()
        return True

    def _check(self, session_id: str, token: str | None) -> SessionRecord:
        """The open session, or a refusal: unknown (404), released (608), bad token (403).
        ``token`` None skips the token check (east-west: the partner is authenticated by
        its signature instead)."""
        record = self._sessions.get(session_id)
        if record is None:
            raise TransportRefused(PtpCode.NOT_FOUND, f"unknown session {session_id!r}")
        if record.state == RELEASED:
            raise TransportRefused(PtpCode.SESSION_RELEASED, f"session {session_id} was released")
        if token is not None and not hmac.compare_digest(record.token_sha256, token_digest(token)):
            raise TransportRefused(PtpCode.UNAUTHORIZED, f"wrong token for session {session_id}")
        return record

    def _touch(self, record: SessionRecord) -> None:
        stamp = now_ms()
        record.last_activity_at = stamp
        if stamp - self._touch_persisted.get(record.session_id, 0) >= TOUCH_EVERY_MS:
            self._touch_persisted[record.session_id] = stamp
            self._batch.batch.touched[record.session_id] = stamp

    def _usage_of(self, session_id: str) -> _Usage:
        usage = self._usage.get(session_id)
        if usage is None:
            usage = self._usage[session_id] = _Usage()
        return usage

    def _reserve(self, session_id: str, side: str, size: int) -> None:
        usage = self._usage_of(session_id)
        count, size_now = (
            (usage.out_count, usage.out_bytes)
            if side == "out"
            else (usage.in_count, usage.in_bytes)
        )
        if (
            count + 1 > self.limits.max_session_messages
            or size_now + size > self.limits.max_session_bytes
        ):
            raise TransportRefused(
                PtpCode.BUFFER_FULL,
                f"session {session_id} is full ({side}: at most "
                f"{self.limits.max_session_messages} messages / "
                f"{self.limits.max_session_bytes} bytes pending); retry later",
            )
        if side == "out":
            usage.out_count += 1
            usage.out_bytes += size
        else:
            usage.in_count += 1
            usage.in_bytes += size

    def _unreserve(self, session_id: str, side: str, size: int) -> None:
        """One pending message of ``size`` bytes fewer (it left the queue)."""
        usage = self._usage_of(session_id)
        if side == "out":
            usage.out_count -= 1
            usage.out_bytes -= size
        else:
            usage.in_count -= 1
            usage.in_bytes -= size

    def usage(self, session_id: str) -> dict[str, int]:
        """Pending counts of a session (for the admin API and tests)."""
        return dataclasses.asdict(self._usage.get(session_id, _Usage()))

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
        self._reserve(session_id, "out", size)
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
        await self._flush()
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
            self._unreserve(held.session_id, "out", held.size)
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
                if self._receive_one(source_node_id, message, pending):
                    stored += 1
            except TransportRefused as exc:
                refusal, refused_session = exc, message.session_id
                break
            touched[record.session_id] = record
            accepted += 1
        for record in touched.values():
            self._touch(record)
        if accepted:
            await self._flush()
        return Received(accepted, stored, refusal, refused_session)

    def _receive_one(self, source: str, message: IncomingMessage, pending: _Pending) -> bool:
        """Add one message or fragment to the batch; True if a message became poppable."""
        stream = (message.session_id, source)
        seq = message.seq
        if seq is not None and seq <= self._upto.get(stream, 0):
            return False  # a resend
        if message.fragment is not None:
            return self._receive_fragment(source, message, pending)
        self._reserve(message.session_id, "in", len(message.payload))
        self._in_id += 1
        size = len(message.payload)
        spilled = self.store.should_spill(size)
        entry = InEntry(self._in_id, message.session_id, source, message.topic, size, spilled)
        stored_seq = seq if seq is not None else -entry.id
        pending.batch.in_new.append(NewIn(entry, stored_seq, message.payload))
        if seq is not None:
            self._upto[stream] = pending.batch.received_upto[stream] = seq
        pending.effects.append(lambda: self._deliver(entry))
        return True

    def _receive_fragment(self, source: str, message: IncomingMessage, pending: _Pending) -> bool:
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
            self._reserve(message.session_id, "in", size)
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

    def _deliver(self, entry: InEntry) -> None:
        record = self._sessions.get(entry.session_id)
        if record is None or record.state == RELEASED:  # released while it was committed
            self._unreserve(entry.session_id, "in", entry.size)
            self._batch.batch.in_drop.append(entry.id)
            self._flush().add_done_callback(_consume)
            return
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
    ) -> bytes | None:
        """The oldest message of the queue, removed (pop) or left in place (peek).

        ``peer_node_id`` None (FATE's OSX client pops without ``x-ptp-target-node-id``)
        takes the oldest message of ``topic`` in the session from whichever partner."""
        await self.start()
        record = self._check(session_id, token)
        queue = self._queue_for(session_id, peer_node_id, topic)
        if not queue:
            return None
        if not remove:
            entry = queue[0]
            found = await self._read_in(entry)
            return found
        entry = queue.popleft()
        self._unreserve(session_id, "in", entry.size)
        self._batch.batch.in_take.append(entry.id)
        self._touch(record)
        taken = await self._flush()
        return taken.get(entry.id)

    def _queue_for(
        self, session_id: str, peer_node_id: str | None, topic: str
    ) -> deque[InEntry] | None:
        if peer_node_id is not None:
            return self._inbox.get((session_id, peer_node_id, topic))
        candidates = [
            queue
            for (sid, _, t), queue in self._inbox.items()
            if sid == session_id and t == topic and queue
        ]
        return min(candidates, key=lambda q: q[0].id) if candidates else None

    async def _read_in(self, entry: InEntry) -> bytes | None:
        if entry.size <= self.inline_commit_bytes:
            found = self.store.read_in([entry.id])
        else:
            found = await asyncio.to_thread(self.store.read_in, [entry.id])
        return found.get(entry.id)

    async def pop(
        self,
        session_id: str,
        token: str | None,
        peer_node_id: str | None,
        topic: str,
        timeout_s: float,
        *,
        remove: bool = True,
    ) -> bytes | None:
        """The next message of the queue, waiting up to ``timeout_s`` for one."""
        key = (session_id, peer_node_id or ANY_PEER, topic)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout_s)
        while True:
            # Take the event *before* looking, so an arrival in between still wakes us.
            arrived = self._arrivals.setdefault(key, asyncio.Event())
            payload = await self.take(session_id, token, peer_node_id, topic, remove=remove)
            remaining = deadline - loop.time()
            if payload is not None or remaining <= 0:
                return payload
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
        await self._flush()
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
            await self._flush()
            for session_id in idle:
                self._wake_session(session_id)
        return idle

    def _drop_inbox(self, session_id: str, topic: str | None) -> int:
        batch = self._batch.batch
        dropped = 0
        for key in [k for k in self._inbox if k[0] == session_id and topic in (None, k[2])]:
            for entry in self._inbox.pop(key):
                batch.in_drop.append(entry.id)
                self._unreserve(session_id, "in", entry.size)
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
