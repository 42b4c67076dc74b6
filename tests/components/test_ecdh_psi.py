"""ECDH-PSI between Isthmus parties over the in-memory link: the intersection is right
for any sets, and every kind of broken or malicious peer gets a clear error, never a
hang or a wrong answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.components.builtin.ecdh_psi.multiparty import EcdhPsiMulti
from isthmus.components.builtin.ecdh_psi.protocol import EcdhPsi2, PsiSettings
from isthmus.components.errors import AlgorithmError
from isthmus.crypto import sm2
from isthmus.crypto.ecdh import CURVE25519, SM2_SHA256_REHASH, SM2_SM3_INCREMENT, Sm2Suite
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.wire.proto import ecdh_psi_pb2

SETTINGS = PsiSettings(suite=CURVE25519, batch_size=64)


async def two_parties(
    run0: Callable[[LinkContext], Awaitable[object]],
    run1: Callable[[LinkContext], Awaitable[object]],
    timeout_s: float = 5.0,
) -> list[object]:
    net = MemoryNetwork()
    links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=timeout_s) for r in (0, 1)]
    await asyncio.gather(*(link.start() for link in links))
    results = await asyncio.gather(run0(links[0]), run1(links[1]), return_exceptions=True)
    return list(results)


def psi(
    items: list[bytes], settings: PsiSettings = SETTINGS
) -> Callable[[LinkContext], Awaitable[object]]:
    async def run(link: LinkContext) -> object:
        with ThreadPoolExecutor(2) as executor:
            return await EcdhPsi2(link, settings, executor).run(items)

    return run


item_sets = st.sets(st.binary(min_size=1, max_size=12), max_size=150)


@settings(max_examples=25, deadline=None)
@given(item_sets, item_sets)
def test_both_parties_find_exactly_the_common_items(a: set[bytes], b: set[bytes]) -> None:
    list_a, list_b = sorted(a), sorted(b)
    got_a, got_b = asyncio.run(two_parties(psi(list_a), psi(list_b)))
    assert {list_a[i] for i in got_a} == a & b  # type: ignore[union-attr]
    assert {list_b[i] for i in got_b} == a & b  # type: ignore[union-attr]


@pytest.mark.parametrize("holder", [0, 1])
def test_only_the_result_holder_learns_the_intersection(holder: int) -> None:
    only = PsiSettings(suite=CURVE25519, batch_size=64, result_to_rank=holder)
    items = [b"%d" % i for i in range(200)]
    got = asyncio.run(two_parties(psi(items[:150], only), psi(items[50:], only)))
    assert got[1 - holder] is None
    mine = items[:150] if holder == 0 else items[50:]
    assert {mine[i] for i in got[holder]} == set(items[50:150])  # type: ignore[union-attr]


def test_spec_truncation_between_isthmus_parties_and_empty_inputs() -> None:
    spec_rule = PsiSettings(suite=CURVE25519, compare_bytes=8, compare_from_end=False)
    got = asyncio.run(two_parties(psi([b"x", b"y"], spec_rule), psi([b"y"], spec_rule)))
    assert got == [{1}, {0}]
    assert asyncio.run(two_parties(psi([]), psi([b"y"]))) == [set(), set()]


def batch(kind: str, index: int, data: bytes, count: int, last: bool = False) -> bytes:
    return bytes(
        ecdh_psi_pb2.EcdhPsiCipherBatch(
            type=kind, batch_index=index, count=count, ciphertext=data, is_last_batch=last
        ).SerializeToString()
    )


def malicious(*messages: bytes) -> Callable[[LinkContext], Awaitable[object]]:
    """A peer that sends these enc messages, then listens without answering."""

    async def run(link: LinkContext) -> object:
        for message in messages:
            await link.send(0, message)
        await asyncio.sleep(1.0)
        return None

    return run


GOOD_POINT = CURVE25519.hash_to_point(b"ok")


@pytest.mark.parametrize(
    ("messages", "says"),
    [
        ((batch("enc", 0, bytes(32), 1),), "low-order"),
        ((batch("enc", 0, (1).to_bytes(32, "little"), 1),), "low-order"),
        ((batch("enc", 0, GOOD_POINT * 2, 3),), "bytes for 3 points"),
        ((batch("enc", 0, GOOD_POINT[:20], 1),), "bytes for 1 points"),
        ((batch("enc", 1, GOOD_POINT, 1),), "index 1 where 0 was due"),
        ((batch("enc", 0, GOOD_POINT * 65, 65),), "limit 64"),
        ((batch("dual.enc", 0, b"", 0, True),), "expected a 'enc' batch"),
        ((b"\xff\xff\xff",), "not an EcdhPsiCipherBatch"),
        ((), "nothing arrived"),
    ],
)
def test_a_malicious_peer_gets_a_clear_error(messages: tuple[bytes, ...], says: str) -> None:
    got = asyncio.run(two_parties(psi([b"a", b"b"]), malicious(*messages), timeout_s=0.5))
    assert isinstance(got[0], AlgorithmError), got[0]
    assert says in got[0].message


def test_wrong_dual_counts_are_refused() -> None:
    """A peer that answers our enc batch with a dual batch of another size."""

    async def liar(link: LinkContext) -> object:
        dual = link.spawn()
        for _ in range(2):  # our two enc batches (data, then the empty last one)
            await link.recv(0)
        await link.send(0, batch("enc", 0, b"", 0, True))
        await dual.send(0, batch("dual.enc", 0, b"\x00" * 12 * 3, 3))
        await asyncio.sleep(1.0)
        return None

    got = asyncio.run(two_parties(psi([b"a", b"b"]), liar, timeout_s=0.5))
    assert isinstance(got[0], AlgorithmError)
    assert "holds 3 values; we sent 2" in got[0].message


@pytest.mark.parametrize("suite", [SM2_SHA256_REHASH, SM2_SM3_INCREMENT], ids=["sha256", "sm3"])
def test_sm2_suites_between_isthmus_parties(suite: Sm2Suite) -> None:
    rule = PsiSettings(suite=suite, batch_size=64)
    a = [b"%d" % i for i in range(0, 120)]
    b = [b"%d" % i for i in range(60, 200)]
    got = asyncio.run(two_parties(psi(a, rule), psi(b, rule)))
    assert {a[i] for i in got[0]} == set(a) & set(b)  # type: ignore[union-attr]


@given(st.binary(max_size=40))
@settings(max_examples=50, deadline=None)
def test_sm2_items_hash_to_points_of_the_curve(item: bytes) -> None:
    for suite in (SM2_SHA256_REHASH, SM2_SM3_INCREMENT):
        encoded = suite.hash_to_point(item)
        assert encoded[0] == 2 and len(encoded) == 33
        x = int.from_bytes(encoded[1:], "big")
        rhs = (x**3 + sm2.A * x + sm2.B) % sm2.P
        assert pow(rhs, (sm2.P - 1) // 2, sm2.P) == 1  # a square: some y has this x
        secret = suite.new_secret()
        assert len(suite.mask(secret, encoded)) == 33


@given(st.lists(st.binary(max_size=24), max_size=6))
@settings(max_examples=25, deadline=None)
def test_sm2_one_pass_hash_and_mask_equals_hash_then_mask(items: list[bytes]) -> None:
    for suite in (SM2_SHA256_REHASH, SM2_SM3_INCREMENT):
        secret = suite.new_secret()
        expected = suite.mask_many(secret, [suite.hash_to_point(item) for item in items])
        assert suite.hash_and_mask(secret, items) == expected


async def n_parties(
    runs: list[Callable[[LinkContext], Awaitable[object]]], timeout_s: float = 10.0
) -> list[object]:
    net = MemoryNetwork()
    n = len(runs)
    links = [LinkContext(r, n, net.backend(r), recv_timeout_s=timeout_s) for r in range(n)]
    await asyncio.gather(*(link.start() for link in links))
    return list(
        await asyncio.gather(*(run(link) for run, link in zip(runs, links, strict=True)),
                             return_exceptions=True)
    )  # fmt: skip


def multi(
    items: list[bytes], settings: PsiSettings = SETTINGS
) -> Callable[[LinkContext], Awaitable[object]]:
    async def run(link: LinkContext) -> object:
        with ThreadPoolExecutor(2) as executor:
            return await EcdhPsiMulti(link, settings, executor).run(items)

    return run


@settings(max_examples=10, deadline=None)
@given(st.lists(item_sets, min_size=2, max_size=5), st.sets(st.binary(max_size=6), max_size=40))
def test_any_number_of_parties_find_the_common_items(
    sets: list[set[bytes]], common: set[bytes]
) -> None:
    parties = [sorted(s | common) for s in sets]
    expected = set.intersection(*(set(p) for p in parties))
    results = asyncio.run(n_parties([multi(p) for p in parties]))
    for items, got in zip(parties, results, strict=True):
        assert not isinstance(got, BaseException), got
        assert {items[i] for i in got} == expected  # type: ignore[union-attr]


@pytest.mark.parametrize("holder", [0, 2])
def test_with_a_result_holder_only_it_learns_the_result(holder: int) -> None:
    only = PsiSettings(suite=CURVE25519, batch_size=64, result_to_rank=holder)
    parties = [[b"%d" % i for i in range(k, k + 100)] for k in (0, 20, 40)]
    results = asyncio.run(n_parties([multi(p, only) for p in parties]))
    for rank, got in enumerate(results):
        if rank == holder:
            assert {parties[rank][i] for i in got} == {b"%d" % i for i in range(40, 100)}  # type: ignore[union-attr]
        else:
            assert got is None


def test_a_relay_that_drops_points_is_caught() -> None:
    """Rank 1 forwards rank 0's chain with one point missing."""

    async def dropper(link: LinkContext) -> object:
        protocol = EcdhPsiMulti(link, SETTINGS, ThreadPoolExecutor(1))
        chain = protocol.chains[0]
        points = await protocol._recv_stream(chain, 0, "ring.enc", 32)
        await protocol._send_stream(chain, 2, "ring.enc", points[1:])
        await asyncio.sleep(1.0)
        return None

    results = asyncio.run(n_parties([multi([b"a", b"b"]), dropper, multi([b"a"])], timeout_s=0.5))
    assert isinstance(results[0], AlgorithmError)
    assert "came back with 1 values for 2 items" in results[0].message
