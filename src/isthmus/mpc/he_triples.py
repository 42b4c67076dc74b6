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

For a matmul the left operand's rows are packed into slots of W = 2L + ceil(log2 k) + s + 1
bits (one exponentiation then serves every row of a group): see docs/protocol.md §15.7.

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

The Paillier work (key generation, encryption, the homomorphic products, decryption) runs
in a worker thread: seconds of it would otherwise stall the event loop it shares with
everything else (on a node, the transport and the secure operator service).
"""

from __future__ import annotations

import asyncio
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
_Kernel = Callable[[PaillierPublicKey, _Ints, _Ints], _Ints]


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


def _pack(values: _Ints, slots: int, width: int) -> _Ints:
    """Rows of ``values`` (p, k) packed ``slots`` to a plaintext: (ceil(p/slots), k)."""
    p, k = values.shape
    groups = -(-p // slots)
    out = np.empty((groups, k), dtype=object)
    for g in range(groups):
        for t in range(k):
            acc = 0
            for s in range(min(slots, p - g * slots)):
                acc |= int(values[g * slots + s, t]) << (width * s)
            out[g, t] = acc
    return out


def _unpack(packed: _Ints, slots: int, width: int, rows: int) -> _Ints:
    """The inverse of packing for results (groups, q): (rows, q) slot values."""
    groups, q = packed.shape
    out = np.empty((groups * slots, q), dtype=object)
    low = (1 << width) - 1
    for g in range(groups):
        for c in range(q):
            value = int(packed[g, c])
            for s in range(slots):
                out[g * slots + s, c] = (value >> (width * s)) & low
    return out[:rows]


def _packed_matrix(key: PaillierPublicKey, cts: _Ints, right: _Ints) -> _Ints:
    """Enc(P@R) for P (groups, k) encrypted (packed rows) and R (k, q) in the clear:
    Π_t c[g, t]^r[t, j] multiplies every slot of row group g by the same r[t, j]."""
    n2 = key.n_square
    groups, k = cts.shape
    q = right.shape[1]
    out = np.empty((groups, q), dtype=object)
    exps = [[int(right[t, j]) for j in range(q)] for t in range(k)]
    for g in range(groups):
        for j in range(q):
            acc = gmpy2.mpz(1)
            for t in range(k):
                if exps[t][j]:
                    acc = acc * gmpy2.powmod(cts[g, t], exps[t][j], n2) % n2
            out[g, j] = acc
    return out


def _elementwise(key: PaillierPublicKey, cts: _Ints, right: _Ints) -> _Ints:
    """Enc(l·r) for every element (cts (p, 1), right (p, 1)): ``c^r``, one slot each."""
    n2 = key.n_square
    out = np.empty(cts.shape, dtype=object)
    for index, value in np.ndenumerate(right):
        out[index] = gmpy2.powmod(cts[index], int(value), n2) if value else gmpy2.mpz(1)
    return out


def _uniform(ring: Ring, shape: tuple[int, ...]) -> Tensor:
    return ring.from_bytes(secrets.token_bytes(ring.nbytes(shape)), shape)


def _encrypt_all(key: PaillierPublicKey, plain: _Ints) -> bytes:
    """This party's operand under its own key, ciphertexts back to back."""
    return b"".join(_ct_bytes(key, key.encrypt_encoded(int(v))) for v in plain.flat)


def _masked_answer(
    key: PaillierPublicKey,
    kernel: _Kernel,
    cts: _Ints,
    right: _Ints,
    slots: int,
    width: int,
    rows: int,
) -> tuple[bytes, _Ints]:
    """Enc(L_peer @ R + masks) under the peer's key, rerandomised, and the masks (this
    party's share is minus them)."""
    encrypted = kernel(key, cts, right)
    masks = np.empty((rows, right.shape[1]), dtype=object)
    for index in np.ndindex(masks.shape):
        masks[index] = secrets.randbits(width - 1)
    packed = _pack(masks, slots, width)  # (groups, q), as the results
    n2, big_n = key.n_square, gmpy2.mpz(key.n)
    out = bytearray()
    for index, value in np.ndenumerate(encrypted):
        masked = value * (1 + packed[index] * big_n) % n2 * key.random_factor() % n2
        out += _ct_bytes(key, masked)
    return bytes(out), masks


def _decrypt_all(private: PaillierPrivateKey, cts: _Ints) -> _Ints:
    return np.array([private.decrypt_raw(int(c)) for c in cts.flat], dtype=object)


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
        public, private = await asyncio.to_thread(
            generate_keypair, self.key_bits, allow_insecure=self.allow_insecure
        )
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
        # the fixed-base tables, built once here rather than mid-triple
        await asyncio.to_thread(lambda: [key.hs_table for key in self._keys.values()])
        self._private = private
        return private

    async def setup(self) -> None:
        """Generate this party's key and exchange public keys now (otherwise the first
        triple does it); every party calls it, or none."""
        await self._ready()

    # --- the cross terms --------------------------------------------------------------

    def _slot_bits(self, k: int) -> int:
        """W = 2L + ceil(log2 k) + s + 1: a slot holds a k-term product plus its mask."""
        width = 2 * self.ring.bits + math.ceil(math.log2(max(k, 1))) + STAT_BITS + 1
        smallest = min(key.n.bit_length() for key in self._keys.values())
        if width + 2 > smallest:
            raise MpcInputError(
                f"HE triples need {width + 2}-bit plaintexts; the smallest key has {smallest} bits"
            )
        return width

    @staticmethod
    def _slots(key: PaillierPublicKey, width: int, packable: bool) -> int:
        return max(1, (key.n.bit_length() - 2) // width) if packable else 1

    async def _cross(self, left: _Ints, right: _Ints, kernel: _Kernel) -> Tensor:
        """This party's share of Σ_{i != j} L_j @ R_i over the integers, reduced mod 2^L:
        L (p, k) this party's left operand (encrypted, rows packed into slots when the
        kernel allows), R (k, q) its right operand (the exponents)."""
        private = await self._ready()
        ring, me = self.ring, self.link.rank
        (p, k), q = left.shape, right.shape[1]
        width = self._slot_bits(k)
        packable = kernel is _packed_matrix
        own_key = self._keys[me]
        own_slots = self._slots(own_key, width, packable)
        plain = _pack(left, own_slots, width)
        mine = await asyncio.to_thread(_encrypt_all, own_key, plain)
        gathered = await self.link.all_gather(mine)
        share = ring.zeros((p, q))
        for peer in self.link.peers:
            key = self._keys[peer]
            slots = self._slots(key, width, packable)
            groups = -(-p // slots)
            cts = _parse(peer, gathered[peer], key, groups * k).reshape(groups, k)
            answer, masks = await asyncio.to_thread(
                _masked_answer, key, kernel, cts, right, slots, width, groups * slots
            )
            await self.link.send(peer, answer)
            share = ring.sub(share, ring.from_int(masks[:p]))
        own_groups = -(-p // own_slots)
        for peer in self.link.peers:
            cts = _parse(peer, await self.link.recv(peer), own_key, own_groups * q)
            values = await asyncio.to_thread(_decrypt_all, private, cts)
            slots_out = _unpack(values.reshape(own_groups, q), own_slots, width, p)
            share = ring.add(share, ring.from_int(slots_out))
        return share

    # --- TripleSource -----------------------------------------------------------------

    async def mul(self, shape: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
        ring = self.ring
        a, b = _uniform(ring, shape), _uniform(ring, shape)
        left = ring.to_unsigned_int(a).reshape(-1, 1)
        right = ring.to_unsigned_int(b).reshape(-1, 1)
        cross = await self._cross(left, right, _elementwise)
        return a, b, ring.add(ring.mul(a, b), ring.reshape(cross, shape))

    async def matmul(self, m: int, k: int, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """Rows of the taller side are packed: A's rows when m >= n, else B's columns
        (through (A@B)^T = B^T@A^T)."""
        ring = self.ring
        a, b = _uniform(ring, (m, k)), _uniform(ring, (k, n))
        ai, bi = ring.to_unsigned_int(a), ring.to_unsigned_int(b)
        if m >= n:
            cross = await self._cross(ai, bi, _packed_matrix)
        else:
            cross = ring.transpose(await self._cross(bi.T.copy(), ai.T.copy(), _packed_matrix))
        return a, b, ring.add(ring.matmul(a, b), cross)

    async def trunc(self, shape: tuple[int, ...], bits: int) -> tuple[Tensor, Tensor]:
        """(r_i, r_i >> bits) with r_i uniform in [0, 2^(L - 2 - ceil(log2 n))): no message."""
        ring = self.ring
        room = ring.bits - 2 - math.ceil(math.log2(self.link.world_size))
        r = ring.low_bits(_uniform(ring, shape), room)
        return r, ring.arshift(r, bits)

    async def close(self) -> None:
        return None
