"""A trusted in-process dealer of Beaver triples and truncation pairs, for tests only.

Every party of an in-memory run holds a :class:`DealerSource` on one shared
:class:`Dealer`. Parties call in lockstep (the ``TripleSource`` contract), so the i-th call
of every party asks for the same item: the first caller draws the item's shares for all
parties, the others take theirs. The engine under test sees exactly what a Beaver service
would give it, without a service, a Paillier key or a network — so an oracle test costs
the arithmetic only. Never a production source: the dealer sees every share.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Tensor = Any


class Dealer:
    def __init__(self, ring: Any, world_size: int, seed: int = 0) -> None:
        self.ring = ring
        self.world_size = world_size
        self._rng = np.random.default_rng(seed)
        self._items: dict[int, list[tuple[Tensor, ...]]] = {}
        self._taken: dict[int, int] = {}

    def random(self, shape: tuple[int, ...]) -> Tensor:
        count = int(np.prod(shape, dtype=np.int64)) * self.ring.element_bytes
        return self.ring.from_bytes(self._rng.bytes(count), shape)

    def split(self, value: Tensor, shape: tuple[int, ...]) -> list[Tensor]:
        shares = [self.random(shape) for _ in range(self.world_size - 1)]
        last = value
        for share in shares:
            last = self.ring.sub(last, share)
        return [*shares, last]

    def take(self, index: int, rank: int, make: Any) -> tuple[Tensor, ...]:
        if index not in self._items:
            self._items[index] = make()
            self._taken[index] = 0
        item = self._items[index][rank]
        self._taken[index] += 1
        if self._taken[index] == self.world_size:
            del self._items[index], self._taken[index]
        return item


class DealerSource:
    """One party's ``TripleSource`` view of a :class:`Dealer`."""

    def __init__(self, dealer: Dealer, rank: int) -> None:
        self.dealer = dealer
        self.ring = dealer.ring
        self.rank = rank
        self._calls = 0

    def _take(self, make: Any) -> tuple[Tensor, ...]:
        self._calls += 1
        return self.dealer.take(self._calls, self.rank, make)

    def _triples(self, a_shape: tuple[int, ...], b_shape: tuple[int, ...], product: Any) -> Any:
        d = self.dealer

        def make() -> list[tuple[Tensor, ...]]:
            a, b = d.random(a_shape), d.random(b_shape)
            c = product(a, b)
            parts = [d.split(a, a_shape), d.split(b, b_shape), d.split(c, d.ring.shape(c))]
            return list(zip(*parts, strict=True))

        return make

    async def mul(self, shape: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
        a, b, c = self._take(self._triples(shape, shape, self.ring.mul))
        return a, b, c

    async def matmul(self, m: int, k: int, n: int) -> tuple[Tensor, Tensor, Tensor]:
        a, b, c = self._take(self._triples((m, k), (k, n), self.ring.matmul))
        return a, b, c

    async def trunc(self, shape: tuple[int, ...], bits: int) -> tuple[Tensor, Tensor]:
        d = self.dealer

        def make() -> list[tuple[Tensor, ...]]:
            r = d.random(shape)
            rb = d.ring.arshift(r, bits)
            return list(zip(d.split(r, shape), d.split(rb, shape), strict=True))

        r, rb = self._take(make)
        return r, rb

    async def close(self) -> None:
        return None
