"""Dealer-free Beaver triples through Paillier: an Isthmus extension, not in the PDF.

Every party i draws its own A_i, B_i uniformly in the ring. C = (Σ A_i)·(Σ B_j) splits into
the local terms A_i·B_i and one cross term A_i·B_j for every ordered pair i != j, which
the two parties turn into additive shares without a third party:

1. j encrypts B_j (as unsigned integers in [0, 2^L)) under its own Paillier key and
   sends the ciphertexts to every other party (one all-gather);
2. i computes Enc_j(A_i·B_j + R) homomorphically (``c^a`` products), with R uniform in
   [0, 2^(2L + ceil(log2 k) + s)) (L the ring's bits, s = ``STAT_BITS`` = 40),
   rerandomises the result with a fresh ``hs^r`` and sends it back to j; i keeps
   -R mod 2^L as its share of the term;
3. j decrypts A_i·B_j + R (an integer below n/2, so no reduction modulo n happens) and
   keeps it modulo 2^L.

Why the mask hides A_i·B_j from j: the exact product lies in [0, k·2^(2L)) while R is
uniform over a range 2^s times wider, so the distribution j sees for two different
products differs by at most 2^-s in statistical distance. i sees only ciphertexts under
j's key (semantic security of Paillier), and the rerandomisation hides from j which
powers of its own ciphertexts i multiplied. Plaintexts need 2L + ceil(log2 k) + s + 1 bits:
well inside a 2048-bit modulus for both rings (refused otherwise).

Truncation pairs need no message: each party draws r_i uniform in
[0, 2^(L - 2 - ceil(log2 n))) and hands out (r_i, r_i >> bits). So Σ r_i never wraps, Σ(r_i >>
bits) equals (Σ r_i) >> bits minus a carry in [0, n-1]; the engine's x - r opening then
never wraps while |x| < 2^(L-3), and the truncated value is off by less than n units in the
last place, never by a large error. The price: r is not uniform over the ring, so the
opening x - r hides x statistically, with distance at most |x|·2^(2 + ceil(log2 n) - L)
(below 2^-30 for |x| < 2^30 in ring 64 with 2 parties). docs/protocol.md §15 has the costs.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from typing import Any

import gmpy2
import numpy as np

from isthmus.crypto.phe import PaillierPrivateKey, PaillierPublicKey, generate_keypair
from isthmus.link.context import LinkContext
from isthmus.mpc.ring import Ring, Tensor
from isthmus.wire.errors import MpcInputError, MpcShareMismatch

STAT_BITS = 40
_Ints = np.ndarray[Any, Any]  # an object array of Python ints
_Product = Callable[[PaillierPublicKey, _Ints, _Ints], _Ints]


def _ct_bytes(key: PaillierPublicKey, value: Any) -> bytes:
    return int(value).to_bytes(2 * ((key.n.bit_length() + 7) // 8), "big")


def _parse(peer: int, buf: bytes, key: PaillierPublicKey, count: int) -> _Ints:
    """``count`` fixed-width big-endian ciphertexts under ``key``, each checked."""
    width = 2 * ((key.n.bit_length() + 7) // 8)
    if len(buf) != width * count:
        raise MpcShareMismatch(
            f"rank {peer} sent {len(buf)} bytes of ciphertexts, expected {width * count}",
            details={"rank": peer, "expected": width * count, "received": len(buf)},
        )
    cts = [
        key.check_ciphertext(int.from_bytes(buf[i : i + width], "big"))
        for i in range(0, len(buf), width)
    ]
    out = np.empty(count, dtype=object)
    out[:] = cts
    return out


def share_size(ring: Ring, share: Tensor) -> int:
    return int(np.prod(ring.shape(share), dtype=np.int64))


def _elementwise(key: PaillierPublicKey, a: _Ints, cts: _Ints) -> _Ints:
    """Enc(a·b) for every element: ``c^a`` (no factor when a = 0)."""
    n2 = key.n_square
    out = np.empty(a.shape, dtype=object)
    for index, value in np.ndenumerate(a):
        out[index] = gmpy2.powmod(cts[index], int(value), n2) if value else gmpy2.mpz(1)
    return out


def _matrix(key: PaillierPublicKey, a: _Ints, cts: _Ints) -> _Ints:
    """Enc(A@B) for A (m, k) in the clear and B (k, n) encrypted: Π_t c[t, j]^a[i, t]."""
    n2 = key.n_square
    (m, k), n = a.shape, cts.shape[1]
    out = np.empty((m, n), dtype=object)
    for i in range(m):
        row = [int(v) for v in a[i]]
        for j in range(n):
            acc = gmpy2.mpz(1)
            for t in range(k):
                if row[t]:
                    acc = acc * gmpy2.powmod(cts[t, j], row[t], n2) % n2
            out[i, j] = acc
    return out


def _uniform(ring: Ring, shape: tuple[int, ...]) -> Tensor:
    return ring.from_bytes(secrets.token_bytes(ring.nbytes(shape)), shape)


class HeTripleSource:
    """A ``TripleSource`` with no dealer: cross terms through Paillier (module text)."""

    def __init__(
        self,
        link: LinkContext,
        ring: Ring,
        *,
        key_bits: int = 2048,
        allow_insecure_key_size: bool = False,
    ) -> None:
        self.link = link.spawn()  # its own channel: every party spawns in the same order
        self.ring = ring
        self.key_bits = key_bits
        self.allow_insecure = allow_insecure_key_size
        self._private: PaillierPrivateKey | None = None
        self._keys: dict[int, PaillierPublicKey] = {}

    # --- keys -----------------------------------------------------------------------

    async def _ready(self) -> PaillierPrivateKey:
        if self._private is not None:
            return self._private
        public, private = generate_keypair(self.key_bits, allow_insecure=self.allow_insecure)
        width = (public.n.bit_length() + 7) // 8
        mine = public.n.to_bytes(width, "big") + public.hs.to_bytes(2 * width, "big")
        for rank, buf in enumerate(await self.link.all_gather(mine)):
            if rank == self.link.rank:
                continue
            if len(buf) % 3:
                raise MpcShareMismatch(
                    f"rank {rank} sent a Paillier key of {len(buf)} bytes (not 3 parts)",
                    details={"rank": rank, "received": len(buf)},
                )
            w = len(buf) // 3
            self._keys[rank] = PaillierPublicKey.from_parts(
                int.from_bytes(buf[:w], "big"),
                int.from_bytes(buf[w:], "big"),
                allow_insecure=self.allow_insecure,
            )
        self._keys[self.link.rank] = public
        for key in self._keys.values():
            _ = key.hs_table  # the fixed-base tables, built once here rather than mid-triple
        self._private = private
        return private

    async def setup(self) -> None:
        """Generate this party's key and exchange public keys now (otherwise the first
        triple does it); every party calls it, or none."""
        await self._ready()

    # --- the cross terms --------------------------------------------------------------

    def _mask_bits(self, k: int) -> int:
        """The mask width 2L + ceil(log2 k) + s, refused if a plaintext would not fit."""
        width = 2 * self.ring.bits + max(1, math.ceil(math.log2(max(k, 1)))) + STAT_BITS
        smallest = min(key.n.bit_length() for key in self._keys.values())
        if width + 2 >= smallest:
            raise MpcInputError(
                f"HE triples need {width + 2}-bit plaintexts; the smallest key has {smallest} bits"
            )
        return width

    async def _cross(self, a: _Ints, b: _Ints, k: int, product: _Product) -> Tensor:
        """This party's share of Σ_{i != j} A_i ∘ B_j (∘ = ``product``), with A, B this
        party's operands as unsigned integers and k the length of a dot product."""
        private = await self._ready()
        ring, me = self.ring, self.link.rank
        mask_bits = self._mask_bits(k)
        own_key = self._keys[me]
        mine = b"".join(_ct_bytes(own_key, own_key.encrypt_encoded(int(v))) for v in b.flat)
        gathered = await self.link.all_gather(mine)
        share: Tensor | None = None
        for peer in self.link.peers:
            key = self._keys[peer]
            cts = _parse(peer, gathered[peer], key, b.size).reshape(b.shape)
            encrypted = product(key, a, cts)
            masks = np.empty(encrypted.shape, dtype=object)
            out = bytearray()
            n2 = key.n_square
            for index, value in np.ndenumerate(encrypted):
                mask = secrets.randbits(mask_bits)
                masks[index] = mask
                masked = value * (1 + mask * gmpy2.mpz(key.n)) % n2 * key.random_factor() % n2
                out += _ct_bytes(key, masked)
            await self.link.send(peer, bytes(out))
            minus = ring.neg(ring.from_int(masks))
            share = minus if share is None else ring.add(share, minus)
        assert share is not None  # at least one peer
        for peer in self.link.peers:
            cts = _parse(peer, await self.link.recv(peer), own_key, share_size(ring, share))
            values = np.array([private.decrypt_raw(c) for c in cts], dtype=object)
            share = ring.add(share, ring.from_int(values.reshape(ring.shape(share))))
        return share

    # --- TripleSource -----------------------------------------------------------------

    async def mul(self, shape: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
        ring = self.ring
        a, b = _uniform(ring, shape), _uniform(ring, shape)
        cross = await self._cross(ring.to_unsigned_int(a), ring.to_unsigned_int(b), 1, _elementwise)
        return a, b, ring.add(ring.mul(a, b), cross)

    async def matmul(self, m: int, k: int, n: int) -> tuple[Tensor, Tensor, Tensor]:
        ring = self.ring
        a, b = _uniform(ring, (m, k)), _uniform(ring, (k, n))
        cross = await self._cross(ring.to_unsigned_int(a), ring.to_unsigned_int(b), k, _matrix)
        return a, b, ring.add(ring.matmul(a, b), cross)

    async def trunc(self, shape: tuple[int, ...], bits: int) -> tuple[Tensor, Tensor]:
        """(r_i, r_i >> bits) with r_i uniform in [0, 2^(L - 2 - ceil(log2 n))): no message."""
        ring = self.ring
        room = ring.bits - 2 - math.ceil(math.log2(self.link.world_size))
        r = ring.low_bits(_uniform(ring, shape), room)
        return r, ring.arshift(r, bits)

    async def close(self) -> None:
        return None
