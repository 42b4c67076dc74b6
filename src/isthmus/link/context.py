"""``LinkContext``: ranks, channels, P2P and collectives over a backend.

Behaves like SecretFlow's yacl link in interconnection mode, so either side can be
SecretFlow: keys numbered from 1 per (channel, src, dst); connect handshake
``connect_<rank>``; on close a ``FIN\\x01\\x02`` whose value is the count of numbered
messages sent, and a wait for the partner's FIN. By default we do not number our own
messages (as IC mode), but we accept numbered ones: strip ``\\x01\\x02<seq>`` and ACK
each; with ``number_messages=True`` we number ours, await ACKs and throttle after
``throttle_window`` unacknowledged messages.

A partner's FIN says it sent all it will send. What it sent just before may still be
on the way (SecretFlow sends asynchronously, so its FIN can overtake its last message
on a direct link), so a wait on a rank that ended its link fails once nothing more has
come from that rank for ``fin_grace_s`` (``LinkError``, naming the key), not after the
whole receive timeout. A party that fails closes its link at once (the component
runtime does), so its partner learns of it within seconds, not one timeout.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import FIRST_COMPLETED
from collections import defaultdict
from dataclasses import dataclass, field

from isthmus.link import keys
from isthmus.link.backends import LinkBackend
from isthmus.link.chunks import Reassembler, split
from isthmus.wire.errors import LinkError, LinkTimeout
from isthmus.wire.proto import link_pb2

log = logging.getLogger(__name__)


@dataclass
class _Shared:
    """State every channel of one link shares: the inbox and the peer bookkeeping."""

    inbox: dict[tuple[int, str], asyncio.Future[bytes]] = field(default_factory=dict)
    reassembler: Reassembler = field(default_factory=Reassembler)
    next_seq: int = 1
    numbered_sent: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    unacked: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    fins: dict[int, asyncio.Future[int]] = field(default_factory=dict)
    #: Loop time of the last message of any kind from each rank.
    last_heard: dict[int, float] = field(default_factory=dict)
    children: int = 0


class LinkContext:
    def __init__(
        self,
        rank: int,
        world_size: int,
        backend: LinkBackend,
        *,
        channel: str = "root",
        recv_timeout_s: float = 60.0,
        max_chunk_bytes: int = 1024 * 1024,
        number_messages: bool = False,
        throttle_window: int = 10,
        fin_grace_s: float = 10.0,
        _shared: _Shared | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise LinkError(f"rank {rank} outside world of {world_size}")
        self.rank = rank
        self.world_size = world_size
        self.backend = backend
        self.channel = keys.check_channel(channel)
        self.recv_timeout_s = recv_timeout_s
        self.max_chunk_bytes = max_chunk_bytes
        self.number_messages = number_messages
        self.throttle_window = throttle_window
        self.fin_grace_s = fin_grace_s
        self._shared = _shared or _Shared()
        self._root = _shared is None
        self._send_counters: dict[int, int] = defaultdict(int)
        self._recv_counters: dict[int, int] = defaultdict(int)
        self._collective_counter = 0

    @property
    def peers(self) -> list[int]:
        return [r for r in range(self.world_size) if r != self.rank]

    # --- life cycle -----------------------------------------------------------------

    async def start(self, connect_timeout_s: float = 60.0) -> None:
        """Start receiving, then the connect handshake with every other rank."""
        await self.backend.start(self._on_push)
        await asyncio.gather(
            *(
                self._send_raw(
                    peer, keys.with_seq(keys.connect_key(self.rank), 0), b"", connect_timeout_s
                )
                for peer in self.peers
            )
        )
        await asyncio.gather(
            *(self._wait(peer, keys.connect_key(peer), connect_timeout_s) for peer in self.peers)
        )

    async def close(self, timeout_s: float | None = None) -> None:
        """Send FIN to every peer and wait for theirs (the partner's ``stop_link`` waits
        for ours: a party that never sends FIN leaves it hanging)."""
        timeout = self.recv_timeout_s if timeout_s is None else timeout_s
        shared = self._shared
        try:
            for peer in self.peers:
                count = str(shared.numbered_sent[peer]).encode()
                await self._send_raw(peer, keys.FIN_KEY, count, timeout)
            for peer in self.peers:
                future = shared.fins.setdefault(peer, asyncio.get_running_loop().create_future())
                try:
                    await asyncio.wait_for(asyncio.shield(future), timeout)
                except TimeoutError:
                    raise LinkTimeout(f"rank {peer} sent no FIN within {timeout:.0f} s") from None
        finally:
            await self.backend.stop()

    def spawn(self) -> LinkContext:
        """A sub-channel (``root-0``, ``root-1``, …) on the same link: own counters,
        shared inbox and sequence numbers, as yacl's ``Spawn()``."""
        child = f"{self.channel}-{self._shared.children}"
        self._shared.children += 1
        return LinkContext(
            self.rank,
            self.world_size,
            self.backend,
            channel=child,
            recv_timeout_s=self.recv_timeout_s,
            max_chunk_bytes=self.max_chunk_bytes,
            number_messages=self.number_messages,
            throttle_window=self.throttle_window,
            fin_grace_s=self.fin_grace_s,
            _shared=self._shared,
        )

    # --- P2P ------------------------------------------------------------------------

    async def send(self, dst: int, value: bytes) -> None:
        self._check_peer(dst)
        self._send_counters[dst] += 1
        key = keys.p2p_key(self.channel, self._send_counters[dst], self.rank, dst)
        await self._send_data(dst, key, value)

    async def recv(self, src: int) -> bytes:
        self._check_peer(src)
        self._recv_counters[src] += 1
        key = keys.p2p_key(self.channel, self._recv_counters[src], src, self.rank)
        return await self._wait(src, key, self.recv_timeout_s)

    # --- collectives ----------------------------------------------------------------

    def _next_collective(self, op: str) -> str:
        self._collective_counter += 1
        return keys.collective_key(self.channel, self._collective_counter, op)

    async def broadcast(self, value: bytes | None, root: int) -> bytes:
        key = self._next_collective("BCAST")
        if self.rank == root:
            if value is None:
                raise LinkError("the broadcast root must give a value")
            await asyncio.gather(*(self._send_data(p, key, value) for p in self.peers))
            return value
        return await self._wait(root, key, self.recv_timeout_s)

    async def gather(self, value: bytes, root: int) -> list[bytes] | None:
        key = self._next_collective("GATHER")
        if self.rank != root:
            await self._send_data(root, key, value)
            return None
        received = await asyncio.gather(
            *(self._wait(p, key, self.recv_timeout_s) for p in self.peers)
        )
        values = dict(zip(self.peers, received, strict=True))
        values[self.rank] = value
        return [values[r] for r in range(self.world_size)]

    async def scatter(self, values: list[bytes] | None, root: int) -> bytes:
        key = self._next_collective("SCATTER")
        if self.rank == root:
            if values is None or len(values) != self.world_size:
                raise LinkError(f"scatter needs exactly {self.world_size} values")
            await asyncio.gather(*(self._send_data(p, key, values[p]) for p in self.peers))
            return values[self.rank]
        return await self._wait(root, key, self.recv_timeout_s)

    async def all_gather(self, value: bytes) -> list[bytes]:
        key = self._next_collective("ALLGATHER")
        await asyncio.gather(*(self._send_data(p, key, value) for p in self.peers))
        received = await asyncio.gather(
            *(self._wait(p, key, self.recv_timeout_s) for p in self.peers)
        )
        values = dict(zip(self.peers, received, strict=True))
        values[self.rank] = value
        return [values[r] for r in range(self.world_size)]

    async def barrier(self) -> None:
        await self.all_gather(b"")

    # --- plumbing -------------------------------------------------------------------

    def _check_peer(self, rank: int) -> None:
        if rank == self.rank or not 0 <= rank < self.world_size:
            raise LinkError(f"rank {rank} is not a peer of rank {self.rank}")

    async def _send_data(self, dst: int, key: str, value: bytes) -> None:
        shared = self._shared
        if self.number_messages:
            while len(shared.unacked[dst]) >= self.throttle_window > 0:
                shared.acked.clear()
                try:
                    await asyncio.wait_for(shared.acked.wait(), self.recv_timeout_s)
                except TimeoutError:
                    raise LinkTimeout(
                        f"rank {dst} acknowledged nothing within {self.recv_timeout_s:.0f} s"
                    ) from None
            seq = shared.next_seq
            shared.next_seq += 1
            shared.unacked[dst].add(seq)
            shared.numbered_sent[dst] += 1
            key = keys.with_seq(key, seq)
        for request in split(self.rank, key, value, self.max_chunk_bytes):
            await self.backend.send(dst, request, self.recv_timeout_s)

    async def _send_raw(self, dst: int, key: str, value: bytes, timeout_s: float) -> None:
        request = link_pb2.PushRequest(
            sender_rank=self.rank, key=key, value=value, trans_type=link_pb2.MONO
        )
        await self.backend.send(dst, request, timeout_s)

    def _slot(self, src: int, key: str) -> asyncio.Future[bytes]:
        inbox = self._shared.inbox
        if (src, key) not in inbox:
            inbox[(src, key)] = asyncio.get_running_loop().create_future()
        return inbox[(src, key)]

    async def _wait(self, src: int, key: str, timeout_s: float) -> bytes:
        future = self._slot(src, key)
        if not future.done():
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            fin = self._shared.fins.setdefault(src, loop.create_future())
            if not fin.done():  # neither future is cancelled by the wait
                await asyncio.wait((future, fin), timeout=timeout_s, return_when=FIRST_COMPLETED)
            while not future.done():
                if not fin.done():
                    raise LinkTimeout(
                        f"nothing arrived from rank {src} for {key!r} within {timeout_s:.0f} s"
                    )
                quiet_until = self._shared.last_heard.get(src, 0.0) + self.fin_grace_s
                left = min(quiet_until, deadline) - loop.time()
                if left <= 0:
                    raise LinkError(
                        f"rank {src} ended the link (FIN) and sent no {key!r} "
                        f"within {self.fin_grace_s:.0f} s"
                    )
                await asyncio.wait((future,), timeout=left)
        del self._shared.inbox[(src, key)]
        return future.result()

    async def _on_push(self, request: link_pb2.PushRequest) -> None:
        """Every incoming message, from any channel of this link."""
        shared = self._shared
        src = int(request.sender_rank)
        shared.last_heard[src] = asyncio.get_running_loop().time()
        if request.key == keys.ACK_KEY:
            try:
                shared.unacked[src].discard(int(request.value or b"0"))
            except ValueError:
                log.warning("rank %s sent an unreadable ACK %r", src, request.value[:20])
            shared.acked.set()
            return
        if request.key == keys.FIN_KEY:
            future = shared.fins.setdefault(src, asyncio.get_running_loop().create_future())
            if not future.done():
                future.set_result(int(request.value or b"0"))
            return
        value = shared.reassembler.add(request)
        if value is None:
            return
        base, seq = keys.split_seq(request.key)
        if seq:
            ack = link_pb2.PushRequest(
                sender_rank=self.rank,
                key=keys.ACK_KEY,
                value=str(seq).encode(),
                trans_type=link_pb2.MONO,
            )
            asyncio.get_running_loop().create_task(self.backend.send(src, ack, self.recv_timeout_s))
        slot = self._slot(src, base)
        if slot.done():
            log.warning("rank %s sent %r twice; keeping the first", src, base)
            return
        slot.set_result(value)
