"""Exponential EC-ElGamal on SM2 and Ed25519, as PPCA (digest §5.4) gives it.

``h = x·G``; ``Enc(m) = (r·G, m·G + r·h)`` with ``r`` uniform in ``[1, order)``;
``Dec(c1, c2)``: ``M = c2 - x·c1 = m·G``, then ``m`` is found by a baby-step giant-step
search. Homomorphic: adding (subtracting) ciphertexts component-wise adds (subtracts)
plaintexts, ``k·(c1, c2)`` multiplies the plaintext by an integer ``k``; negatives are
``m mod order`` and come back negative. No re-randomisation (not needed by SGB/HE-LR).

**Decryption bound.** ``m`` can be recovered only from a bounded range: decryption
returns every ``|m| < bound`` exactly and raises ``PlaintextOutOfRange`` otherwise (never
a wrong value). The search uses a table of the baby steps ``i·G``, ``1 <= i <= T``, keyed
by the low 64 bits of the coordinate ``±i·G`` share, so one entry covers ``±i``; giant
steps of ``s = 2T + 1`` walk outward from ``M`` in both directions (``M ∓ k·s·G``), so
small values are found first, and a whole batch of ciphertexts moves together with one
modular inversion per step (:meth:`.ec_groups.EcGroup.batch_add`). A table hit is
verified by recomputing ``m·G``, so a 64-bit key collision can cost time, never
correctness.

Costs (defaults ``bound = 2^32``, ``T = 2^20``): the table is 12 bytes per entry (sorted
``uint64`` keys and ``uint32`` indices), 12 MiB, built once per process and curve in a
few seconds (see docs/benchmarks.md for measured figures) and shared by every key on
that curve; a decryption then takes at most ``bound / s ≈ 2048`` giant steps in each
direction, fewer the closer ``m`` is to 0.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from isthmus.crypto.phe.ec_groups import (
    CURVE_ED25519,
    CURVE_SM2,
    Affine,
    EcGroup,
    group_for,
)
from isthmus.crypto.phe.errors import InvalidPoint, PlaintextOutOfRange
from isthmus.wire import exchange_he

DEFAULT_BOUND: Final = 1 << 32
"""Decryption recovers ``|m| < 2^32`` by default."""
MAX_BOUND: Final = 1 << 64
"""Beyond this a search for an out-of-range value would outlast any use of it."""
DEFAULT_TABLE_SIZE: Final = 1 << 20
"""Baby steps in the table by default (12 MiB)."""
CURVES: Final = {"SM2": CURVE_SM2, "ED25519": CURVE_ED25519}
"""Curve names (as in ``CurveType``) to their wire values."""

_KEY_MASK: Final = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class EcElGamalCiphertext:
    """``(c1, c2) = (r·G, m·G + r·h)``, points in the group's internal encoding."""

    c1: bytes
    c2: bytes


@dataclass(frozen=True)
class EcElGamalPublicKey:
    """The curve's group and ``h = x·G``: enough to encrypt and compute on ciphertexts.

    Build one from a partner's bytes with :meth:`from_wire`, which checks ``h``."""

    group: EcGroup
    h: bytes

    @classmethod
    def from_wire(cls, key: exchange_he.EcElGamalPublicKey) -> EcElGamalPublicKey:
        """A received public key: a supported curve and ``h`` a non-identity group point."""
        group = group_for(key.curve)
        h = group.from_wire(key.h, "EC-ElGamal public key h")
        if h == group.identity:
            raise InvalidPoint("EC-ElGamal public key h: the identity is not a public key")
        return cls(group, h)

    def to_wire(self) -> exchange_he.EcElGamalPublicKey:
        return exchange_he.EcElGamalPublicKey(self.group.curve_type, self.group.to_wire(self.h))

    def check_plaintext(self, m: int) -> int:
        """``m`` as an int if ``2·|m| < order`` (so its sign survives), else
        ``PlaintextOutOfRange``."""
        m = int(m)
        if 2 * abs(m) >= self.group.order:
            raise PlaintextOutOfRange(
                f"plaintext of {abs(m).bit_length()} bits is outside the {self.group.name} "
                "EC-ElGamal range",
                details={"curve": self.group.name},
            )
        return m

    def encrypt(self, m: int, r: int | None = None) -> EcElGamalCiphertext:
        """``(r·G, m·G + r·h)`` with a fresh ``r`` unless one is given (tests)."""
        m = self.check_plaintext(m)
        group = self.group
        if r is None:
            r = 1 + secrets.randbelow(group.order - 1)
        c1 = group.base_mul(r)
        c2 = group.add(group.base_mul(m), group.fixed_mul(r, self.h))
        return EcElGamalCiphertext(c1, c2)

    def encrypt_many(self, values: Iterable[int]) -> list[EcElGamalCiphertext]:
        return [self.encrypt(m) for m in values]

    def add(self, a: EcElGamalCiphertext, b: EcElGamalCiphertext) -> EcElGamalCiphertext:
        """``Enc(ma + mb)``."""
        g = self.group
        return EcElGamalCiphertext(g.add(a.c1, b.c1), g.add(a.c2, b.c2))

    def sub(self, a: EcElGamalCiphertext, b: EcElGamalCiphertext) -> EcElGamalCiphertext:
        """``Enc(ma - mb)``."""
        g = self.group
        return EcElGamalCiphertext(g.sub(a.c1, b.c1), g.sub(a.c2, b.c2))

    def neg(self, a: EcElGamalCiphertext) -> EcElGamalCiphertext:
        """``Enc(-m)``."""
        return EcElGamalCiphertext(self.group.neg(a.c1), self.group.neg(a.c2))

    def add_plain(self, a: EcElGamalCiphertext, m: int) -> EcElGamalCiphertext:
        """``Enc(ma + m)`` (no new randomness: ``c1`` is unchanged)."""
        return EcElGamalCiphertext(
            a.c1, self.group.add(a.c2, self.group.base_mul(self.check_plaintext(m)))
        )

    def mul(self, a: EcElGamalCiphertext, k: int) -> EcElGamalCiphertext:
        """``Enc(k · ma)`` for an integer ``k`` (negative included)."""
        g = self.group
        return EcElGamalCiphertext(g.mul(k, a.c1), g.mul(k, a.c2))

    def sum(self, values: Iterable[EcElGamalCiphertext]) -> EcElGamalCiphertext:
        """``Enc(Σ m)``; the empty sum is ``(O, O)``, the noiseless encryption of 0."""
        items = list(values)
        g = self.group
        return EcElGamalCiphertext(g.sum(c.c1 for c in items), g.sum(c.c2 for c in items))

    # --- wire ---------------------------------------------------------------------------

    def ciphertext_to_wire(self, c: EcElGamalCiphertext) -> tuple[bytes, bytes]:
        return self.group.to_wire(c.c1), self.group.to_wire(c.c2)

    def ciphertext_from_wire(self, pair: tuple[bytes, bytes], what: str) -> EcElGamalCiphertext:
        """A received ``(c1, c2)``, both checked to be group points (``InvalidPoint``)."""
        g = self.group
        return EcElGamalCiphertext(
            g.from_wire(pair[0], f"{what}.c1"), g.from_wire(pair[1], f"{what}.c2")
        )

    def ciphertexts_from_wire(self, pairs: npt.NDArray[Any], what: str = "ciphertext") -> Any:
        """An object array of ``(c1, c2)`` (as ``exchange_he`` reads them) as ciphertexts."""
        out = np.empty(pairs.shape, dtype=object)
        for index, pair in np.ndenumerate(pairs):
            out[index] = self.ciphertext_from_wire(pair, f"{what} {list(index)}")
        return out


class DlogTable:
    """Baby steps ``i·G`` (``1 <= i <= size``) keyed by 64 bits of the shared coordinate.

    ``solve`` finds ``m`` with ``M = m·G`` for a batch of points, ``|m| < bound``."""

    def __init__(self, group: EcGroup, size: int) -> None:
        if size < 1 or size >= 1 << 32:
            raise ValueError(f"table size must be in [1, 2^32): {size}")
        self.group = group
        self.size = size
        keys = np.empty(size, dtype=np.uint64)
        block = min(size, 1024)
        g = group.affine(group.generator)
        assert g is not None
        first: list[Affine | None] = [g]
        while len(first) < block:
            first.append(group.batch_add([first[-1]], g)[0])
        step = first[-1]
        assert step is not None
        current = first
        done = 0
        while done < size:
            take = min(block, size - done)
            keys[done : done + take] = [int(group.key(p) or 0) & _KEY_MASK for p in current[:take]]
            done += take
            if done < size:
                current = group.batch_add(current, step)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.values = (order + 1).astype(np.uint32)
        s = 2 * size + 1
        self.stride = s
        giant = group.affine(group.base_mul(s))
        minus = group.affine(group.base_mul(-s))
        assert giant is not None and minus is not None
        self._up, self._down = giant, minus

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.values.nbytes)

    def _candidates(self, key: int | None) -> list[int]:
        if key is None:
            return [0]
        k = np.uint64(key & _KEY_MASK)
        pos = int(np.searchsorted(self.keys, k))
        found = []
        while pos < self.size and self.keys[pos] == k:
            found.append(int(self.values[pos]))
            pos += 1
        return found

    def _check(self, point: bytes, offset: int, key: int | None, bound: int) -> int | None:
        for i in self._candidates(key):
            for m in {offset + i, offset - i}:
                if abs(m) < bound and self.group.base_mul(m) == point:
                    return m
        return None

    def solve(self, points: Sequence[bytes], bound: int) -> list[int]:
        """``m`` for each ``M = m·G`` (internal encodings); ``PlaintextOutOfRange`` if
        some ``|m| >= bound``."""
        group = self.group
        result: list[int | None] = [None] * len(points)
        todo = list(range(len(points)))
        start = [group.affine(points[i]) for i in todo]
        ups, downs = list(start), list(start)
        k = 0
        while todo:
            offset = k * self.stride
            if offset - self.size >= bound:
                raise PlaintextOutOfRange(
                    f"an EC-ElGamal plaintext is outside the decryption bound ±{bound}",
                    details={"bound": bound},
                )
            still: list[int] = []
            next_ups: list[Affine | None] = []
            next_downs: list[Affine | None] = []
            for j, idx in enumerate(todo):
                found = self._check(points[idx], offset, group.key(downs[j]), bound)
                if found is None and k:
                    found = self._check(points[idx], -offset, group.key(ups[j]), bound)
                if found is None:
                    still.append(idx)
                    next_ups.append(ups[j])
                    next_downs.append(downs[j])
                else:
                    result[idx] = found
            todo = still
            if todo:
                # downs hold M - k·s·G (offset +k·s), ups M + k·s·G (offset -k·s)
                downs = group.batch_add(next_downs, self._down)
                ups = group.batch_add(next_ups, self._up)
            k += 1
        return [int(m) for m in result if m is not None]


@functools.cache
def dlog_table(curve_type: int, size: int) -> DlogTable:
    """The process-wide table of a curve and size (built on first use, then shared)."""
    return DlogTable(group_for(curve_type), size)


@dataclass(frozen=True)
class EcElGamalPrivateKey:
    """``x`` with its public key, the decryption bound and the table size."""

    public: EcElGamalPublicKey
    x: int = field(repr=False)
    bound: int = DEFAULT_BOUND
    table_size: int = DEFAULT_TABLE_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.bound <= MAX_BOUND:
            raise ValueError(f"the decryption bound must be in [1, 2^64]: {self.bound}")
        if not 1 <= self.table_size < 1 << 32:
            raise ValueError(f"the table size must be in [1, 2^32): {self.table_size}")
        if not 0 < self.x < self.public.group.order:
            raise ValueError("the secret scalar is not in [1, order)")

    @property
    def table(self) -> DlogTable:
        return dlog_table(self.public.group.curve_type, self.table_size)

    def point(self, c: EcElGamalCiphertext) -> bytes:
        """``M = c2 - x·c1 = m·G``."""
        g = self.public.group
        return g.sub(c.c2, g.mul(self.x, c.c1))

    def encrypt(self, m: int, r: int | None = None) -> EcElGamalCiphertext:
        """The key owner's encryption: ``(r·G, (m + r·x)·G)``, the same ciphertext as
        :meth:`EcElGamalPublicKey.encrypt` with the same ``r`` (``r·h = r·x·G``), in two
        fixed-base multiplications by ``G`` instead of three multiplications. SGB's
        active party encrypts its gradients under its own key, so this is its path."""
        group = self.public.group
        m = self.public.check_plaintext(m)
        if r is None:
            r = 1 + secrets.randbelow(group.order - 1)
        return EcElGamalCiphertext(group.base_mul(r), group.base_mul(m + r * self.x))

    def encrypt_many(self, values: Iterable[int]) -> list[EcElGamalCiphertext]:
        return [self.encrypt(m) for m in values]

    def decrypt(self, c: EcElGamalCiphertext) -> int:
        return self.decrypt_many([c])[0]

    def decrypt_many(self, cs: Sequence[EcElGamalCiphertext]) -> list[int]:
        """Every plaintext, the search batched over all of them."""
        return self.table.solve([self.point(c) for c in cs], self.bound)


def generate_keypair(
    curve: str | int,
    *,
    bound: int = DEFAULT_BOUND,
    table_size: int = DEFAULT_TABLE_SIZE,
) -> tuple[EcElGamalPublicKey, EcElGamalPrivateKey]:
    """A fresh key on ``"SM2"``/``"ED25519"`` (or a ``CurveType`` value)."""
    group = group_for(CURVES[curve.upper()] if isinstance(curve, str) else curve)
    x = 1 + secrets.randbelow(group.order - 1)
    public = EcElGamalPublicKey(group, group.base_mul(x))
    return public, EcElGamalPrivateKey(public, x, bound, table_size)
