"""PPCA mode: the v2 handshake decides suite, truncation and result holder (rank 0's
choice among what everyone supports), refusals reach every rank, and the PSI then runs
with exactly what was decided."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from isthmus.components.builtin.ecdh_psi.handshake import (
    Offer,
    Refused,
    apply_response,
    negotiate,
    truncation_bits,
)
from isthmus.components.builtin.ecdh_psi.protocol import EcdhPsi2, PsiSettings
from isthmus.components.errors import AlgorithmError
from isthmus.crypto.ecdh import CURVE25519, SM2_SHA256_REHASH, SM2_SM3_INCREMENT
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.wire.proto import ecc_pb2, handshake_pb2, interconnection_common_pb2, psi_handshake_pb2

BASE = PsiSettings(suite=CURVE25519, batch_size=64)


async def handshake_then_psi(offers: list[Offer], items: list[list[bytes]]) -> list[object]:
    net = MemoryNetwork()
    links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=5) for r in (0, 1)]
    await asyncio.gather(*(link.start() for link in links))

    async def party(rank: int) -> object:
        settings = await negotiate(links[rank], offers[rank], BASE)
        with ThreadPoolExecutor(2) as executor:
            return settings, await EcdhPsi2(links[rank], settings, executor).run(items[rank])

    return list(await asyncio.gather(party(0), party(1), return_exceptions=True))


def test_rank_zero_picks_its_preferred_common_suite_and_the_truncation() -> None:
    a = [b"%d" % i for i in range(300)]
    b = [b"%d" % i for i in range(200, 700)]
    offers = [
        Offer([SM2_SM3_INCREMENT, CURVE25519], len(a), -1),
        Offer([CURVE25519, SM2_SHA256_REHASH, SM2_SM3_INCREMENT], len(b), 1),
    ]
    results = asyncio.run(handshake_then_psi(offers, [a, b]))
    (s0, got0), (s1, got1) = results  # type: ignore[misc]
    assert s0.suite is s1.suite is SM2_SM3_INCREMENT  # rank 0's first choice, both offer it
    bits = truncation_bits([300, 500])
    assert bits == 48  # ⌈log2 300⌉ + ⌈log2 500⌉ + 30 = 9 + 9 + 30
    assert s0.compare_bytes == s1.compare_bytes == bits // 8
    assert s0.result_to_rank == s1.result_to_rank == -1  # rank 0 decides
    assert {a[i] for i in got0} == {b[i] for i in got1} == set(a) & set(b)


def test_no_common_suite_is_refused_on_both_sides() -> None:
    offers = [Offer([CURVE25519], 1, -1), Offer([SM2_SHA256_REHASH], 1, -1)]
    results = asyncio.run(handshake_then_psi(offers, [[b"x"], [b"x"]]))
    assert all(isinstance(r, Refused) for r in results), results
    assert "no ECC suite every party supports" in results[1].message  # type: ignore[union-attr]
    assert "by rank 0" in results[1].message  # type: ignore[union-attr]


def test_an_old_version_is_refused() -> None:
    async def scenario() -> object:
        net = MemoryNetwork()
        links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=5) for r in (0, 1)]
        await asyncio.gather(*(link.start() for link in links))
        old = handshake_pb2.HandshakeRequest(version=1, supported_algos=[1])
        await links[1].send(0, old.SerializeToString())
        try:
            await negotiate(links[0], Offer([CURVE25519], 1, -1), BASE)
        except Refused as exc:
            answer = handshake_pb2.HandshakeResponse.FromString(await links[1].recv(0))
            return exc.code, answer.header.error_code
        return None

    code, sent = asyncio.run(scenario())  # type: ignore[misc]
    assert code == sent == interconnection_common_pb2.UNSUPPORTED_VERSION


def test_a_response_carrying_a_data_io_proposal_is_accepted() -> None:
    """SecretFlow packs a PsiDataIoProposal where the spec says PsiDataIoResult."""
    response = handshake_pb2.HandshakeResponse(algo=1, protocol_families=[1])
    result = ecc_pb2.EccProtocolResult(
        version=1,
        ec_suit=ecc_pb2.EcSuit(curve=1, hash=11, hash2curve_strategy=3),
        point_octet_format=1,
        bit_length_after_truncated=-1,
    )
    response.protocol_family_params.add().Pack(result)
    response.io_param.Pack(psi_handshake_pb2.PsiDataIoProposal(result_to_rank=0))
    suite, bits, holder = apply_response(response.SerializeToString(), Offer([CURVE25519], 10, -1))
    assert (suite, bits, holder) == (CURVE25519, -1, 0)


@pytest.mark.parametrize("field", ["ecc", "io"])
def test_a_packed_parameter_that_is_not_its_message_is_a_clear_refusal(field: str) -> None:
    """An ``Any`` naming the right type over bytes that are not one: the handshake's
    own error, never protobuf's DecodeError escaping from ``Any.Unpack``."""
    garbage = b"\x0a\xff\xff"  # a length-delimited field that runs past the end
    response = handshake_pb2.HandshakeResponse(algo=1, protocol_families=[1])
    ecc = response.protocol_family_params.add()
    ecc.Pack(ecc_pb2.EccProtocolResult(ec_suit=ecc_pb2.EcSuit(curve=1, hash=11)))
    if field == "ecc":
        ecc.value = garbage
    else:
        response.io_param.Pack(psi_handshake_pb2.PsiDataIoResult(result_to_rank=0))
        response.io_param.value = garbage
    with pytest.raises(AlgorithmError, match="unreadable"):
        apply_response(response.SerializeToString(), Offer([CURVE25519], 10, -1))


@pytest.mark.parametrize("counts", [[2, 2], [10**9, 10**9], [1, 10**6]])
def test_truncation_meets_the_ppca_bound(counts: list[int]) -> None:
    bits = truncation_bits(counts)
    assert bits % 8 == 0 and bits >= sum((n - 1).bit_length() for n in counts) + 30
