"""The kit's own OBSERVING ECDH-PSI party: it plays the rank the target does not, with
known inputs, and keeps everything the target sent so the checks can judge it.

Unlike the component's engine (``components.builtin.ecdh_psi.protocol``), which refuses a
bad peer at the first violation, this party is lenient: it reads what arrives, notes
what is wrong, and keeps going as far as the protocol allows, so one run yields evidence
for every check (framing, the empty last batch, truncation, point validity, the
intersection). It keeps the full double-masked values it computes for the target's
points, which is what lets the truncation check tell *which* bytes the target kept.

Its own side follows the spec and SecretFlow (digest §5.2): ``enc`` batches of at most
4096 points on ``root``, an empty batch marked last, ``dual.enc`` answers with the same
index on ``root-0``, trailing-12-byte truncation (or what the v2 handshake negotiated).
For the invalid-point scenario it replaces its first point by one the target must refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from isthmus.components.builtin.ecdh_psi import handshake as hs
from isthmus.components.builtin.ecdh_psi.protocol import (
    BATCH_SIZE,
    DUAL,
    ENC,
    SECRETFLOW_COMPARE_BYTES,
    encode_batch,
)
from isthmus.components.builtin.handshake_v2 import HandshakeRefused, parse_request
from isthmus.components.errors import AlgorithmError
from isthmus.conformance.psi.target import Curve
from isthmus.conformance.psi.wiretap import LinkRecord, Wiretap
from isthmus.crypto.ecdh import CURVE25519, SM2_SHA256_REHASH, EcdhSuite, InvalidPoint
from isthmus.crypto.sm2 import A as SM2_A
from isthmus.crypto.sm2 import B as SM2_B
from isthmus.crypto.sm2 import P as SM2_P
from isthmus.link import LinkBackend, LinkContext
from isthmus.link.chunks import MIN_CHUNK_BYTES
from isthmus.wire.errors import LinkError
from isthmus.wire.proto import ecdh_psi_pb2

SUITES: dict[Curve, EcdhSuite] = {Curve.CURVE25519: CURVE25519, Curve.SM2: SM2_SHA256_REHASH}


def invalid_point(curve: Curve) -> bytes:
    """A point encoding the target must refuse: X25519's u = 0 (low order: the product
    is all zeros); for SM2 a compressed point whose x has no y on the curve."""
    if curve is Curve.CURVE25519:
        return bytes(32)
    x = 1
    while pow((x**3 + SM2_A * x + SM2_B) % SM2_P, (SM2_P - 1) // 2, SM2_P) != SM2_P - 1:
        x += 1
    return b"\x02" + x.to_bytes(32, "big")


@dataclass
class StreamEnd:
    """How one of the target's streams ended, from the kit's side."""

    complete: bool = False
    reason: str = "not started"


@dataclass
class HandshakeSeen:
    """The handshake messages exchanged (PPCA mode), raw, and how the kit judged them."""

    kit_rank: int
    request: bytes | None = None
    response: bytes | None = None
    problem: str | None = None
    #: (suite, bit length, result_to_rank) both sides then used.
    decided: tuple[str, int, int] | None = None


@dataclass
class PartyObservation:
    kit_rank: int
    curve: Curve
    items: list[bytes]
    records: list[LinkRecord] = field(default_factory=list)
    #: The target's ``enc`` / ``dual.enc`` messages, raw, in batch order as received.
    peer_enc: list[bytes] = field(default_factory=list)
    peer_dual: list[bytes] = field(default_factory=list)
    enc_end: StreamEnd = field(default_factory=StreamEnd)
    dual_end: StreamEnd = field(default_factory=StreamEnd)
    #: Points per enc batch the kit sent (the empty last one included).
    kit_sent: list[int] = field(default_factory=list)
    #: The target's enc points that the kit could not use: (batch, position, why).
    invalid_peer_points: list[tuple[int, int, str]] = field(default_factory=list)
    #: Point width in bytes the target's enc batches should have.
    point_bytes: int = 32
    #: The kit's full double-masked value of every usable target point, in order.
    full_double: list[bytes] = field(default_factory=list)
    #: The target's dual values for the kit's items, by item position.
    my_duals: list[bytes] = field(default_factory=list)
    #: Bytes of a dual value and which end they come from, as the kit used them.
    compare_bytes: int = SECRETFLOW_COMPARE_BYTES
    compare_from_end: bool = True
    handshake: HandshakeSeen | None = None
    fin_received: bool = False
    #: The kit's intersection (items), None if it could not compute one.
    intersection: set[bytes] | None = None
    poisoned: bool = False
    error: str | None = None

    def truncate(self, point: bytes) -> bytes:
        n = self.compare_bytes
        if n >= len(point):
            return point
        return point[-n:] if self.compare_from_end else point[:n]


class _StreamStop(Exception):  # control flow inside the party
    pass


class KitParty:
    """One run of the kit's side over ``backend`` (wrapped in a ``Wiretap``)."""

    def __init__(
        self,
        *,
        rank: int,
        curve: Curve,
        items: Sequence[bytes],
        backend: LinkBackend,
        handshake: bool = False,
        poison: bool = False,
        chunk_bytes: int = 8192,
        stream_timeout_s: float = 30.0,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.rank, self.peer = rank, 1 - rank
        self.curve = curve
        self.suite = SUITES[curve]
        self.items = list(items)
        self.tap = Wiretap(backend)
        self.handshake = handshake
        self.poison = poison
        # Small enough that the kit's enc batch always goes CHUNKED (the chunk check).
        enc_bytes = len(self.items) * self.suite.point_bytes
        self.chunk_bytes = min(chunk_bytes, max(MIN_CHUNK_BYTES, enc_bytes // 3))
        self.timeout = stream_timeout_s
        self.batch_size = batch_size
        self.secret = self.suite.new_secret()
        self.seen = PartyObservation(
            kit_rank=rank,
            curve=curve,
            items=self.items,
            point_bytes=self.suite.point_bytes,
            poisoned=poison,
            records=self.tap.records,
        )

    async def run(self) -> PartyObservation:
        """Play the protocol to its end (or as far as the target lets it); never raises
        for anything the target does: that is recorded in the observation."""
        link = LinkContext(
            self.rank,
            2,
            self.tap,
            recv_timeout_s=self.timeout,
            max_chunk_bytes=self.chunk_bytes,
        )
        try:
            await link.start(connect_timeout_s=self.timeout)
            if self.handshake:
                await self._handshake(link)
            await self._streams(link)
            self._intersect()
            await self._close(link)
        except (LinkError, AlgorithmError, _StreamStop) as exc:
            self.seen.error = self.seen.error or str(exc)
            await _quietly(self.tap.stop())
        except BaseException:
            await _quietly(self.tap.stop())
            raise
        return self.seen

    # --- handshake (PPCA mode, §5.1) ------------------------------------------------

    async def _handshake(self, link: LinkContext) -> None:
        offer = hs.Offer([self.suite], len(self.items), -1)
        seen = self.seen.handshake = HandshakeSeen(kit_rank=self.rank)
        try:
            if self.rank == 0:
                seen.request = await link.recv(self.peer)
                try:
                    request = parse_request(seen.request, self.peer, hs.ECDH_PSI, hs.Refused)
                    suite, bits, result_to = hs.decide(offer, {self.peer: request})
                except hs.Refused as refusal:
                    seen.problem = f"the kit refused the target's request: {refusal}"
                    seen.response = hs.refusal(refusal)
                    await link.send(self.peer, seen.response)
                    raise _StreamStop(seen.problem) from None
                seen.response = hs.response(suite, bits, result_to)
                await link.send(self.peer, seen.response)
            else:
                seen.request = hs.request(self.rank, offer)
                await link.send(self.peer, seen.request)
                seen.response = await link.recv(self.peer)
                suite, bits, result_to = hs.apply_response(seen.response, offer)
        except (AlgorithmError, HandshakeRefused) as exc:
            seen.problem = seen.problem or str(exc)
            raise _StreamStop(f"handshake: {seen.problem}") from None
        seen.decided = (type(suite).__name__, bits, result_to)
        if bits > 0:
            self.seen.compare_bytes = bits // 8
            self.seen.compare_from_end = suite.low_order_at_end
        else:
            self.seen.compare_bytes = suite.point_bytes

    # --- the three streams (§5.2) ---------------------------------------------------

    async def _streams(self, link: LinkContext) -> None:
        dual = link.spawn()  # root-0
        tasks = [
            asyncio.create_task(self._send_mine(link)),
            asyncio.create_task(self._answer_peer(link, dual)),
            asyncio.create_task(self._receive_my_duals(dual)),
        ]
        try:
            for task in asyncio.as_completed(tasks):
                await task
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_mine(self, link: LinkContext) -> None:
        masked = await asyncio.to_thread(self.suite.hash_and_mask, self.secret, self.items)
        if self.poison and masked:
            masked[0] = invalid_point(self.curve)
        size = self.batch_size
        index = 0
        for index, start in enumerate(range(0, len(masked), size)):
            batch = masked[start : start + size]
            self.seen.kit_sent.append(len(batch))
            await link.send(self.peer, encode_batch(ENC, index, batch, last=False))
        self.seen.kit_sent.append(0)
        await link.send(self.peer, encode_batch(ENC, len(self.seen.kit_sent) - 1, [], last=True))

    async def _recv(self, link: LinkContext, end: StreamEnd, what: str) -> bytes:
        try:
            return await link.recv(self.peer)
        except LinkError as exc:
            end.reason = f"{what}: {exc}"
            raise _StreamStop(end.reason) from None

    async def _answer_peer(self, link: LinkContext, dual: LinkContext) -> None:
        end = self.seen.enc_end
        end.reason = "no enc batch arrived"
        index = 0
        while True:
            raw = await self._recv(link, end, f"enc stream after {index} batch(es)")
            self.seen.peer_enc.append(raw)
            batch = _parse(raw, end, f"enc message {index}")
            points = self._points(batch, index)
            full = await asyncio.to_thread(self._mask, points, index)
            self.seen.full_double.extend(f for f in full if f is not None)
            answer = [self.seen.truncate(f) for f in full if f is not None]
            await dual.send(self.peer, encode_batch(DUAL, index, answer, last=batch.is_last_batch))
            if batch.is_last_batch:
                end.complete, end.reason = True, f"ended by batch {index} marked last"
                return
            index += 1

    async def _receive_my_duals(self, dual: LinkContext) -> None:
        end = self.seen.dual_end
        end.reason = "no dual.enc batch arrived"
        index = 0
        while True:
            raw = await self._recv(dual, end, f"dual.enc stream after {index} batch(es)")
            self.seen.peer_dual.append(raw)
            batch = _parse(raw, end, f"dual.enc message {index}")
            data = bytes(batch.ciphertext)
            if batch.count > 0 and len(data) % batch.count == 0:  # the framing check judges
                width = len(data) // batch.count
                self.seen.my_duals.extend(data[i : i + width] for i in range(0, len(data), width))
            if batch.is_last_batch:
                end.complete, end.reason = True, f"ended by batch {index} marked last"
                return
            index += 1

    # --- helpers --------------------------------------------------------------------

    def _points(self, batch: ecdh_psi_pb2.EcdhPsiCipherBatch, index: int) -> list[bytes]:
        width = self.suite.point_bytes
        data = bytes(batch.ciphertext)
        if len(data) % width:
            self.seen.invalid_peer_points.append(
                (index, -1, f"{len(data)} bytes is not a whole number of {width}-byte points")
            )
            data = data[: len(data) - len(data) % width]
        return [data[i : i + width] for i in range(0, len(data), width)]

    def _mask(self, points: list[bytes], index: int) -> list[bytes | None]:
        """The kit's mask of each point, None (and noted) where the point is unusable."""
        try:
            return list(self.suite.mask_many(self.secret, points))
        except InvalidPoint:
            pass
        out: list[bytes | None] = []
        for position, point in enumerate(points):
            try:
                out.append(self.suite.mask(self.secret, point))
            except InvalidPoint as exc:
                self.seen.invalid_peer_points.append((index, position, str(exc)))
                out.append(None)
        return out

    def _intersect(self) -> None:
        peer = {self.seen.truncate(f) for f in self.seen.full_double}
        if len(self.seen.my_duals) != len(self.items):
            self.seen.error = (
                f"the target returned {len(self.seen.my_duals)} dual values for the kit's "
                f"{len(self.items)} items"
            )
            return
        self.seen.intersection = {
            item for item, d in zip(self.items, self.seen.my_duals, strict=True) if d in peer
        }

    async def _close(self, link: LinkContext) -> None:
        try:
            await link.close(timeout_s=min(self.timeout, 10.0))
        except LinkError as exc:
            self.seen.error = self.seen.error or f"close: {exc}"
            return
        self.seen.fin_received = True


def _parse(raw: bytes, end: StreamEnd, what: str) -> ecdh_psi_pb2.EcdhPsiCipherBatch:
    batch = ecdh_psi_pb2.EcdhPsiCipherBatch()
    try:
        batch.ParseFromString(raw)
    except DecodeError:
        end.reason = f"{what} is not an EcdhPsiCipherBatch"
        raise _StreamStop(end.reason) from None
    return batch


async def _quietly(step: Awaitable[object]) -> None:
    with contextlib.suppress(Exception):  # best-effort cleanup after a failure
        await step
