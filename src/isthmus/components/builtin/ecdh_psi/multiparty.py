"""ECDH-PSI for more than two parties (Isthmus to Isthmus).

SecretFlow stops at two or three parties; this protocol takes any number n ≥ 2. Every
party i holds a secret scalar k_i and a set S_i; the leader is rank 0, or the result
holder when one is named. The protocol and its leakage are written down in
``docs/psi.md``; in short:

1. **Ring masking.** Every party starts a chain: it sends k_i·H(S_i) to rank i+1, which
   masks with its own scalar and passes it on, order preserved, until the chain comes
   back to i holding K·H(S_i) with K = k_0·k_1·…·k_{n-1}, in i's own order. The n chains
   run at once, chain c on sub-channel ``root-c``.
2. **Collection.** Every other party sends its fully masked set, sorted (so its order
   says nothing), to the leader on ``root-n``; the leader intersects all of them with
   its own.
3. **Result.** If every party gets the result (``result_to_rank`` -1), the leader sends
   the fully masked values of the intersection, sorted, on ``root-(n+1)``; each party
   finds its own items among them through its chain's result.

Streams use the two-party batch format (``EcdhPsiCipherBatch``, at most the batch size
per batch, an empty last batch) with their own types, and get the same checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from isthmus.components.builtin.ecdh_psi.protocol import (
    PsiSettings,
    encode_batch,
    parallel_map,
    parse_batch,
    split_points,
)
from isthmus.components.errors import AlgorithmError
from isthmus.crypto.ecdh import InvalidPoint
from isthmus.link import LinkContext
from isthmus.wire.errors import LinkError

RING, FULL, RESULT = "ring.enc", "full.enc", "result.enc"


class EcdhPsiMulti:
    def __init__(self, link: LinkContext, settings: PsiSettings, executor: Executor) -> None:
        self.n = link.world_size
        if self.n < 2:
            raise AlgorithmError("PSI needs at least two parties")
        if not -1 <= settings.result_to_rank < self.n:
            raise AlgorithmError(
                f"result_to_rank {settings.result_to_rank} outside 0..{self.n - 1}"
            )
        self.link = link
        self.settings = settings
        self.executor = executor
        self.me = link.rank
        self.leader = max(settings.result_to_rank, 0)
        # The same spawn order on every party: chains 0..n-1, then collection, result.
        self.chains = [link.spawn() for _ in range(self.n)]
        self.collect = link.spawn()
        self.announce = link.spawn()
        self._secret = settings.suite.new_secret()

    @property
    def everyone_gets_result(self) -> bool:
        return self.settings.result_to_rank == -1

    async def run(self, items: Sequence[bytes]) -> set[int] | None:
        try:
            async with asyncio.TaskGroup() as tasks:
                relays = [
                    tasks.create_task(self._relay(origin))
                    for origin in range(self.n)
                    if origin != self.me
                ]
                own = tasks.create_task(self._own_chain(items))
            del relays
            mine = own.result()
            return await self._finish(mine)
        except* LinkError as group:
            raise AlgorithmError(f"multi-party PSI link failure: {group.exceptions[0]}") from None
        except* AlgorithmError as group:
            raise group.exceptions[0] from None

    # --- phase 1: the chains --------------------------------------------------------

    async def _own_chain(self, items: Sequence[bytes]) -> list[bytes]:
        """Start our chain; return K·H(item) for our items, in our order."""
        channel = self.chains[self.me]
        suite = self.settings.suite
        masked = await self._parallel(suite.hash_and_mask, items)
        await self._send_stream(channel, self._next, RING, masked)
        returned = await self._recv_stream(channel, self._previous, RING, suite.point_bytes)
        if len(returned) != len(items):
            raise AlgorithmError(
                f"our chain came back with {len(returned)} values for {len(items)} items"
            )
        return returned

    async def _relay(self, origin: int) -> None:
        """Mask a chain passing through us and hand it to the next rank."""
        channel = self.chains[origin]
        suite = self.settings.suite
        points = await self._recv_stream(channel, self._previous, RING, suite.point_bytes)
        try:
            masked = await self._parallel(suite.mask_many, points)
        except InvalidPoint as exc:
            raise AlgorithmError(f"chain of rank {origin}: {exc}") from exc
        await self._send_stream(channel, self._next, RING, masked)

    @property
    def _next(self) -> int:
        return (self.me + 1) % self.n

    @property
    def _previous(self) -> int:
        return (self.me - 1) % self.n

    # --- phases 2 and 3 -------------------------------------------------------------

    async def _finish(self, mine: list[bytes]) -> set[int] | None:
        width = self.settings.suite.point_bytes
        if self.me != self.leader:
            await self._send_stream(self.collect, self.leader, FULL, sorted(mine))
            if not self.everyone_gets_result:
                return None
            common = set(await self._recv_stream(self.announce, self.leader, RESULT, width))
            if not common <= set(mine):
                raise AlgorithmError("the leader announced values that are not ours")
            return {i for i, value in enumerate(mine) if value in common}
        common = set(mine)
        others = [r for r in range(self.n) if r != self.me]
        for full in await asyncio.gather(
            *(self._recv_stream(self.collect, r, FULL, width) for r in others)
        ):
            common &= set(full)
        if self.everyone_gets_result:
            await asyncio.gather(
                *(self._send_stream(self.announce, r, RESULT, sorted(common)) for r in others)
            )
        return {i for i, value in enumerate(mine) if value in common}

    # --- streams --------------------------------------------------------------------

    async def _send_stream(
        self, channel: LinkContext, dst: int, kind: str, points: Sequence[bytes]
    ) -> None:
        size = self.settings.batch_size
        index = 0
        for index, start in enumerate(range(0, len(points), size)):
            await channel.send(
                dst, encode_batch(kind, index, points[start : start + size], last=False)
            )
        last = index + 1 if points else 0
        await channel.send(dst, encode_batch(kind, last, [], last=True))

    async def _recv_stream(
        self, channel: LinkContext, src: int, kind: str, width: int
    ) -> list[bytes]:
        values: list[bytes] = []
        index = 0
        while True:
            data = await channel.recv(src)
            batch = parse_batch(data, kind, index, self.settings.batch_size, f"rank {src}'s")
            values.extend(split_points(batch, width, kind, index))
            if batch.is_last_batch:
                return values
            index += 1

    async def _parallel(
        self, work: Callable[[bytes, Sequence[bytes]], list[bytes]], values: Sequence[bytes]
    ) -> list[bytes]:
        return await parallel_map(self.executor, self.settings.workers, work, self._secret, values)
