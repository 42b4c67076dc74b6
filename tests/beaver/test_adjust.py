"""The adjustments make valid tuples: parties draw their buffers from their own PRGs, the
adjust rank adds the service's answer, and the reconstructed values satisfy the tuple's
law, checked with Python integers (not with the ring code the service itself uses)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.beaver import adjust
from isthmus.beaver.adjust import Buffer
from isthmus.beaver.sessions import Material
from isthmus.mpc.prg import Prg, PrgCrypto
from isthmus.mpc.ring import RING64, RING128, Ring, Tensor

rings = st.sampled_from([RING64, RING128])
cryptos = st.sampled_from(["AES128_CTR", "SM4_CTR"])
worlds = st.integers(min_value=2, max_value=4)
seeds = st.binary(min_size=16, max_size=16)
PROPS = settings(max_examples=25, deadline=None)


class Parties:
    """World-size PRGs in lockstep, as the client parties run them."""

    def __init__(self, seed_list: Sequence[bytes], crypto: PrgCrypto, skip: int) -> None:
        self.prgs = [Prg(s, crypto) for s in seed_list]
        for prg in self.prgs:
            prg.bytes(skip)  # the counters need not start at 0
        self.material = Material(tuple(seed_list), crypto)

    def draw(self, ring: Ring, shape: tuple[int, ...]) -> tuple[list[Tensor], Buffer]:
        meta = Buffer(self.prgs[0].counter, ring.nbytes(shape))
        return [prg.ring(ring, shape) for prg in self.prgs], meta


def total(ring: Ring, shares: Sequence[Tensor]) -> np.ndarray:
    """Σ shares as Python ints in [0, 2^bits)."""
    return np.asarray(sum(ring.to_unsigned_int(s) for s in shares)) % ring.modulus


def signed(ring: Ring, v: np.ndarray) -> np.ndarray:
    half = ring.modulus >> 1
    out = [(x - ring.modulus if x >= half else x) for x in v.ravel()]
    return np.asarray(out, dtype=object).reshape(v.shape)


def add_to_adjust_rank(ring: Ring, shares: list[Tensor], adj: bytes) -> list[Tensor]:
    shape = ring.shape(shares[0])
    return [ring.add(shares[0], ring.from_bytes(adj, shape)), *shares[1:]]


world_seeds = worlds.flatmap(lambda n: st.lists(seeds, min_size=n, max_size=n, unique=True))
skips = st.integers(min_value=0, max_value=100)


@PROPS
@given(rings, cryptos, world_seeds, skips, st.integers(min_value=1, max_value=9))
def test_mul_triples_reconstruct_to_a_product(
    ring: Ring, crypto: PrgCrypto, seed_list: list[bytes], skip: int, n: int
) -> None:
    parties = Parties(seed_list, crypto, skip)
    (a, ma), (b, mb), (c, mc) = (parties.draw(ring, (n,)) for _ in range(3))
    (adj,) = adjust.adjust_mul(ring, parties.material, [ma, mb, mc])
    c = add_to_adjust_rank(ring, c, adj)
    assert (total(ring, c) == (total(ring, a) * total(ring, b)) % ring.modulus).all()


@PROPS
@given(
    rings,
    world_seeds,
    skips,
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=1, max_value=6),
)
def test_dot_triples_reconstruct_to_a_matrix_product(
    ring: Ring, seed_list: list[bytes], skip: int, m: int, k: int, n: int
) -> None:
    parties = Parties(seed_list, "AES128_CTR", skip)
    a, ma = parties.draw(ring, (m, k))
    b, mb = parties.draw(ring, (k, n))
    c, mc = parties.draw(ring, (m, n))
    (adj,) = adjust.adjust_dot(ring, parties.material, [ma, mb, mc], m, k, n)
    c = add_to_adjust_rank(ring, c, adj)
    expected = total(ring, a).dot(total(ring, b)) % ring.modulus
    assert (total(ring, c) == expected).all()


@PROPS
@given(rings, world_seeds, skips, st.integers(min_value=1, max_value=9), st.data())
def test_trunc_pairs_are_an_arithmetic_shift(
    ring: Ring, seed_list: list[bytes], skip: int, n: int, data: st.DataObject
) -> None:
    bits = data.draw(st.integers(min_value=1, max_value=ring.bits - 2))
    parties = Parties(seed_list, "AES128_CTR", skip)
    (r, mr), (rb, mrb) = (parties.draw(ring, (n,)) for _ in range(2))
    (adj,) = adjust.adjust_trunc(ring, parties.material, [mr, mrb], bits)
    rb = add_to_adjust_rank(ring, rb, adj)
    expected = (signed(ring, total(ring, r)) >> bits) % ring.modulus
    assert (total(ring, rb) == expected).all()


@PROPS
@given(rings, world_seeds, skips, st.integers(min_value=1, max_value=9), st.data())
def test_trunc_pr_tuples_split_off_the_top_bit(
    ring: Ring, seed_list: list[bytes], skip: int, n: int, data: st.DataObject
) -> None:
    bits = data.draw(st.integers(min_value=1, max_value=ring.bits - 2))
    parties = Parties(seed_list, "AES128_CTR", skip)
    (r, mr), (rc, mrc), (rb, mrb) = (parties.draw(ring, (n,)) for _ in range(3))
    adj_c, adj_b = adjust.adjust_trunc_pr(ring, parties.material, [mr, mrc, mrb], bits)
    rc, rb = add_to_adjust_rank(ring, rc, adj_c), add_to_adjust_rank(ring, rb, adj_b)
    value = total(ring, r)
    top = ring.bits - 1
    assert (total(ring, rb) == value >> top).all()
    assert (total(ring, rc) == (value % (1 << top)) >> bits).all()


@PROPS
@given(rings, world_seeds, skips, st.integers(min_value=1, max_value=9))
def test_and_triples_over_xor_shares(ring: Ring, seed_list: list[bytes], skip: int, n: int) -> None:
    parties = Parties(seed_list, "SM4_CTR", skip)
    (a, ma), (b, mb), (c, mc) = (parties.draw(ring, (n,)) for _ in range(3))
    (adj,) = adjust.adjust_and(parties.material, [ma, mb, mc])
    c[0] = c[0] ^ ring.from_bytes(adj, (n,))

    def xor(shares: list[Tensor]) -> Tensor:
        out = shares[0].copy()
        for s in shares[1:]:
            out ^= s
        return out

    assert (xor(c) == (xor(a) & xor(b))).all()


@PROPS
@given(rings, world_seeds, skips, st.integers(min_value=1, max_value=64))
def test_rand_bits_reconstruct_to_bits(
    ring: Ring, seed_list: list[bytes], skip: int, n: int
) -> None:
    parties = Parties(seed_list, "AES128_CTR", skip)
    r, mr = parties.draw(ring, (n,))
    (adj,) = adjust.adjust_rand_bit(ring, parties.material, [mr])
    r = add_to_adjust_rank(ring, r, adj)
    assert set(total(ring, r).tolist()) <= {0, 1}


def test_rand_bits_are_not_constant() -> None:
    bits = adjust.random_bits(256)
    assert 0 < int(bits.sum()) < 256
