"""Two-party ECDH-PSI over the white-box link, as SecretFlow runs it in interconnection
mode (digest §5.2 and the recorded exchange in ``wire-captures/ecdh_psi_1k_*``).

Each party masks its own items once and streams them to the peer as ``enc`` batches on
channel ``root``; it masks every ``enc`` batch it receives a second time and returns it,
truncated, as a ``dual.enc`` batch with the same index on ``root-0`` (when the peer gets
the result). A result holder intersects the dual values the peer returned for its own
items with the dual values it computed for the peer's. Batches hold at most 4096
points; each stream ends with an empty batch marked last. The three streams run at
once, and the scalar multiplications run in worker threads (PyNaCl releases the GIL).

Everything a peer sends is checked before use: message type, batch index (no gaps, no
repeats), point count against the bytes carried and the batch limit, dual counts
against what we sent, points on the curve. A violation is an ``AlgorithmError`` naming
it, never a wrong intersection.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isthmus.components.builtin.ecdh_psi.profile import PROFILE
from isthmus.components.builtin.ecdh_psi.spool import DualTable, has_bit
from isthmus.components.errors import AlgorithmError
from isthmus.crypto.ecdh import EcdhSuite, InvalidPoint
from isthmus.link import LinkContext
from isthmus.wire.errors import LinkError
from isthmus.wire.proto import ecdh_psi_pb2
from isthmus.wire.protobuf import MalformedMessage, parse

BATCH_SIZE = 4096
ENC, DUAL = "enc", "dual.enc"
#: SecretFlow compares the last 12 bytes of every dual-masked point (kFinalCompareBytes).
SECRETFLOW_COMPARE_BYTES = 12


@dataclass(frozen=True)
class PsiSettings:
    suite: EcdhSuite
    #: -1: both parties get the result; otherwise only that rank.
    result_to_rank: int = -1
    #: Bytes of each dual-masked point that are sent and compared.
    compare_bytes: int = SECRETFLOW_COMPARE_BYTES
    #: Which end of the encoding they are taken from: SecretFlow takes the last bytes;
    #: the PPCA text the low-order bits of X (the first bytes of X25519's little-endian).
    compare_from_end: bool = True
    batch_size: int = BATCH_SIZE
    workers: int = 2
    #: Our enc batches in flight before we wait for the peer's dual answers: without
    #: it a slower peer's link inbox holds our whole input.
    window: int = 16

    def truncate(self, point: bytes) -> bytes:
        n = self.compare_bytes
        if n >= len(point):
            return point
        return point[-n:] if self.compare_from_end else point[:n]

    def truncate_packed(self, packed: bytes, width: int) -> bytes:
        """``truncate`` of every ``width``-byte value packed in ``packed``, packed."""
        n = self.compare_bytes
        if n >= width or not packed:
            return packed
        values = np.frombuffer(packed, dtype=np.uint8).reshape(-1, width)
        kept = values[:, width - n :] if self.compare_from_end else values[:, :n]
        return kept.tobytes()


class EcdhPsi2:
    def __init__(self, link: LinkContext, settings: PsiSettings, executor: Executor) -> None:
        if link.world_size != 2:
            raise AlgorithmError(f"two-party ECDH-PSI needs 2 ranks, not {link.world_size}")
        self.link = link
        self.dual_link = link.spawn()  # root-0
        self.settings = settings
        self.executor = executor
        self.me, self.peer = link.rank, 1 - link.rank
        self._secret = settings.suite.new_secret()
        self._answered = 0  # our enc batches the peer has answered with dual.enc
        self._progress = asyncio.Event()

    @property
    def i_get_result(self) -> bool:
        return self.settings.result_to_rank in (-1, self.me)

    @property
    def peer_gets_result(self) -> bool:
        return self.settings.result_to_rank in (-1, self.peer)

    async def run(self, items: Sequence[bytes]) -> set[int] | None:
        """Indices of ``items`` in the intersection, or None if this rank gets no result."""
        size = self.settings.batch_size
        batches = [items[i : i + size] for i in range(0, len(items), size)]
        with tempfile.TemporaryDirectory(prefix="isthmus-psi-") as work:
            matched = await self.run_batches(batches, Path(work))
        if matched is None:
            return None
        return {i for i in range(len(items)) if has_bit(matched, i)}

    async def run_batches(
        self, batches: Iterable[Sequence[bytes] | bytes], work: Path
    ) -> bytearray | None:
        """The streaming form: our items come as batches (read lazily; a batch may also
        be the items' points, packed, when the spool hashed them already), the dual values
        go to bucket files under ``work``; returns the bitmap of our matched positions,
        or None if this rank gets no result. Memory stays flat whatever the input size."""
        table = DualTable(work, min(self.settings.compare_bytes, self.settings.suite.point_bytes))
        sent: list[int] = []  # points per enc batch, as sent
        try:
            # A TaskGroup: the first stream to fail cancels the other two.
            async with asyncio.TaskGroup() as streams:
                streams.create_task(self._send_mine(batches, sent))
                streams.create_task(self._answer_peer(table))
                if self.i_get_result:
                    streams.create_task(self._receive_my_duals(sent, table))
        except* LinkError as group:
            table.close()
            raise AlgorithmError(f"ECDH-PSI link failure: {group.exceptions[0]}") from None
        except* AlgorithmError as group:
            table.close()
            raise group.exceptions[0] from None
        if not self.i_get_result:
            table.close()
            return None
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, _timed_matches, table, sum(sent)
        )

    # --- the three streams ----------------------------------------------------------

    async def _send_mine(self, batches: Iterable[Sequence[bytes] | bytes], sent: list[int]) -> None:
        for index, batch in enumerate(batches):
            if self.i_get_result:  # pace on the peer's answers: its backlog stays bounded
                with PROFILE.phase("wait.window"):
                    while index - self._answered >= self.settings.window:
                        self._progress.clear()
                        await self._progress.wait()
            if isinstance(batch, bytes):  # points already (a HashedSpool's batches)
                count = len(batch) // self.settings.suite.point_bytes
                masked = await self._parallel_points(batch, "own.mask")
            else:
                count = len(batch)
                masked = await self._parallel_items(batch)
            sent.append(count)
            with PROFILE.phase("frame.encode"):
                message = encode_packed(ENC, index, masked, count, last=False)
            with PROFILE.phase("wait.send_enc"):
                await self.link.send(self.peer, message)
        sent.append(0)  # the empty last batch: from now on len(sent) is final
        await self.link.send(self.peer, encode_packed(ENC, len(sent) - 1, b"", 0, last=True))

    async def _answer_peer(self, table: DualTable) -> None:
        width = self.settings.suite.point_bytes
        index = 0
        while True:
            with PROFILE.phase("wait.recv_enc"):
                data = await self.link.recv(self.peer)
            with PROFILE.phase("frame.decode"):
                batch = self._parse(data, ENC, index)
                points = packed_points(batch, width, ENC, index)
            try:
                masked = await self._parallel_points(points)
            except InvalidPoint as exc:
                raise AlgorithmError(f"peer's enc batch {index}: {exc}") from exc
            with PROFILE.phase("dual.truncate"):
                truncated = self.settings.truncate_packed(masked, width)
            if self.peer_gets_result:
                with PROFILE.phase("frame.encode"):
                    message = encode_packed(
                        DUAL, index, truncated, batch.count, last=batch.is_last_batch
                    )
                with PROFILE.phase("wait.send_dual"):
                    await self.dual_link.send(self.peer, message)
            if self.i_get_result:
                with PROFILE.phase("spool.dual_write"):
                    table.add_peer(truncated)
            if batch.is_last_batch:
                return
            index += 1

    async def _receive_my_duals(self, sent: list[int], table: DualTable) -> None:
        width = table.width
        position = 0
        index = 0
        while True:
            with PROFILE.phase("wait.recv_dual"):
                data = await self.dual_link.recv(self.peer)
            with PROFILE.phase("frame.decode"):
                batch = self._parse(data, DUAL, index)
                # The peer answers an enc batch only after we sent it: its count is known.
                expected = sent[index] if index < len(sent) else 0
                if batch.count != expected:
                    raise AlgorithmError(
                        f"peer's dual.enc batch {index} holds {batch.count} values; "
                        f"we sent {expected} in enc batch {index}"
                    )
                values = packed_points(batch, width, DUAL, index)
            with PROFILE.phase("spool.dual_write"):
                table.add_mine(position, values)
            position += batch.count
            self._answered = index + 1
            self._progress.set()
            if batch.is_last_batch:
                if index != len(sent) - 1:
                    raise AlgorithmError(
                        f"peer ended the dual.enc stream at batch {index}; we sent "
                        f"{len(sent) - 1} data batches"
                    )
                return
            index += 1

    # --- helpers --------------------------------------------------------------------

    def _parse(self, data: bytes, kind: str, index: int) -> ecdh_psi_pb2.EcdhPsiCipherBatch:
        return parse_batch(data, kind, index, self.settings.batch_size, "peer's")

    def _own(self, secret: bytes, items: Sequence[bytes]) -> bytes:
        """Our items hashed and masked (in a worker thread)."""
        suite = self.settings.suite
        with PROFILE.phase("own.hash"):
            points = suite.hash_packed(items)
        if points is None:  # hashing is part of the multiplication (SM2)
            with PROFILE.phase("own.hash_and_mask"):
                return suite.hash_and_mask_packed(secret, items)
        with PROFILE.phase("own.mask"):
            return suite.mask_packed(secret, points)

    def _mask(self, secret: bytes, points: bytes | memoryview, phase: str) -> bytes:
        """Points masked (in a worker thread): the peer's, or our own hashed ones."""
        with PROFILE.phase(phase):
            return self.settings.suite.mask_packed(secret, points)

    async def _parallel_items(self, items: Sequence[bytes]) -> bytes:
        """Our items over the workers, in chunks of whole groups of eight (the
        multi-buffer lanes), products packed in order."""
        loop = asyncio.get_running_loop()
        step = _chunk(len(items), self.settings.workers)
        parts = [items[i : i + step] for i in range(0, len(items), step)]
        results = await asyncio.gather(
            *(loop.run_in_executor(self.executor, self._own, self._secret, p) for p in parts)
        )
        return b"".join(results)

    async def _parallel_points(self, points: bytes, phase: str = "peer.mask") -> bytes:
        loop = asyncio.get_running_loop()
        width = self.settings.suite.point_bytes
        step = _chunk(len(points) // width, self.settings.workers) * width
        view = memoryview(points)
        parts = [view[i : i + step] for i in range(0, len(points), step)]
        results = await asyncio.gather(
            *(
                loop.run_in_executor(self.executor, self._mask, self._secret, p, phase)
                for p in parts
            )
        )
        return b"".join(results)


def _timed_matches(table: DualTable, positions: int) -> bytearray:
    with PROFILE.phase("match"):
        return table.matches(positions)


def _chunk(count: int, workers: int) -> int:
    """Items per worker chunk: the count split over the workers (chunks of at least 256),
    rounded up to a multiple of 8 so only the last chunk pads a multi-buffer call."""
    parts = max(1, min(workers, count // 256 or 1))
    step = -(-count // parts)
    return max(8, -(-step // 8) * 8)


async def parallel_map(
    executor: Executor,
    workers: int,
    work: Callable[[bytes, Sequence[bytes]], list[bytes]],
    secret: bytes,
    values: Sequence[bytes],
) -> list[bytes]:
    """``work(secret, values)`` split across the executor's threads, order kept."""
    if not values:
        return []
    loop = asyncio.get_running_loop()
    parts = max(1, min(workers, len(values) // 256 or 1))
    step = -(-len(values) // parts)
    chunks = [values[i : i + step] for i in range(0, len(values), step)]
    results: list[list[bytes]] = await asyncio.gather(
        *(loop.run_in_executor(executor, work, secret, chunk) for chunk in chunks)
    )
    return [point for chunk in results for point in chunk]


def parse_batch(
    data: bytes, kind: str, index: int, limit: int, who: str
) -> ecdh_psi_pb2.EcdhPsiCipherBatch:
    """The batch ``index`` of a ``kind`` stream, or an AlgorithmError saying what is
    wrong with it (``who`` names the sender in the message)."""
    what = f"{who} {kind} batch {index} is not an EcdhPsiCipherBatch"
    try:
        batch = parse(ecdh_psi_pb2.EcdhPsiCipherBatch, data, what)
    except MalformedMessage as exc:
        raise AlgorithmError(exc.message) from exc
    if batch.type != kind:
        raise AlgorithmError(f"expected a {kind!r} batch, {who} sent {batch.type!r}")
    if batch.batch_index != index:
        raise AlgorithmError(f"{who} {kind} batch index {batch.batch_index} where {index} was due")
    if not 0 <= batch.count <= limit:
        raise AlgorithmError(
            f"{who} {kind} batch {index} claims {batch.count} points (limit {limit})"
        )
    return batch


def encode_batch(kind: str, index: int, points: Sequence[bytes], *, last: bool) -> bytes:
    return encode_packed(kind, index, b"".join(points), len(points), last=last)


def encode_packed(kind: str, index: int, packed: bytes, count: int, *, last: bool) -> bytes:
    """One batch of ``count`` values packed end to end in ``packed``."""
    message = ecdh_psi_pb2.EcdhPsiCipherBatch(
        type=kind, batch_index=index, is_last_batch=last, count=count, ciphertext=packed
    )
    return bytes(message.SerializeToString())


def packed_points(
    batch: ecdh_psi_pb2.EcdhPsiCipherBatch, width: int, kind: str, index: int
) -> bytes:
    """The batch's values, packed, once their length is checked against the count."""
    data = batch.ciphertext
    if len(data) != batch.count * width:
        raise AlgorithmError(
            f"peer's {kind} batch {index}: {len(data)} bytes for {batch.count} points of "
            f"{width} bytes"
        )
    return bytes(data)


def split_points(
    batch: ecdh_psi_pb2.EcdhPsiCipherBatch, width: int, kind: str, index: int
) -> list[bytes]:
    data = packed_points(batch, width, kind, index)
    return [data[i : i + width] for i in range(0, len(data), width)]
