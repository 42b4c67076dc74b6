"""The PPCA v2 handshake for ECDH-PSI (digest §5.1-5.2): PPCA mode, as opposed to BFIA
mode where both sides read the same parameters from their environment.

Every rank other than 0 sends rank 0 a ``HandshakeRequest`` (P2P on ``root``): the
algorithm, the ECC suites, point formats and truncation it supports, in preference
order, and its item count and wanted result holder. Rank 0 checks the version first
(``HandshakeVersionCheckHelper``, refusing anything below 2), picks the suite and format
it prefers among those every requester supports, computes the truncation from the item
counts by the PPCA rule (⌈log2 nA⌉ + ⌈log2 nB⌉ + 30 bits, rounded up to bytes), and
answers each rank a ``HandshakeResponse``, or a refusal with the
``HANDSHAKE_REFUSED``/``UNSUPPORTED_*`` code in its header. Both sides then run the
protocol with exactly what was decided.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from google.protobuf import any_pb2

from isthmus.components.builtin.ecdh_psi.protocol import PsiSettings
from isthmus.components.builtin.handshake_v2 import HandshakeRefused, parse_request
from isthmus.components.errors import AlgorithmError
from isthmus.crypto.ecdh import EcdhSuite
from isthmus.link import LinkContext
from isthmus.wire.proto import (
    ecc_pb2,
    handshake_pb2,
    interconnection_common_pb2,
    psi_handshake_pb2,
)
from isthmus.wire.protobuf import MalformedMessage, parse, unpacked

VERSION = 2
ECDH_PSI = handshake_pb2.ALGO_TYPE_ECDH_PSI
ECC = handshake_pb2.PROTOCOL_FAMILY_ECC
CODES = interconnection_common_pb2
#: Point formats by curve: X25519 points are the bare u-coordinate.
FORMATS: dict[int, int] = {
    ecc_pb2.CURVE_TYPE_CURVE25519: ecc_pb2.POINT_OCTET_FORMAT_UNCOMPRESSED,
    ecc_pb2.CURVE_TYPE_SM2: ecc_pb2.POINT_OCTET_FORMAT_X962_COMPRESSED,
}


@dataclass(frozen=True)
class Offer:
    """What this party brings to the handshake, best first."""

    suites: Sequence[EcdhSuite]
    item_count: int
    result_to_rank: int


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _families(families: Sequence[int], params: Sequence[any_pb2.Any]) -> dict[int, any_pb2.Any]:
    """Protocol family -> its parameters (the two lists are parallel)."""
    return dict(zip(families, params, strict=False))


def _suit(suite: EcdhSuite) -> ecc_pb2.EcSuit:
    return ecc_pb2.EcSuit(curve=suite.curve, hash=suite.hash, hash2curve_strategy=suite.hash2curve)


def truncation_bits(counts: Sequence[int]) -> int:
    """The PPCA rule for two parties, rounded up to whole bytes."""
    bits = sum(math.ceil(math.log2(max(n, 2))) for n in counts) + 30
    return -(-bits // 8) * 8


def request(rank: int, offer: Offer) -> bytes:
    proposal = ecc_pb2.EccProtocolProposal(
        supported_versions=[1],
        ec_suits=[_suit(s) for s in offer.suites],
        point_octet_formats=sorted({FORMATS[s.curve] for s in offer.suites}),
        support_point_truncation=True,
    )
    io = psi_handshake_pb2.PsiDataIoProposal(
        supported_versions=[1], item_num=offer.item_count, result_to_rank=offer.result_to_rank
    )
    message = handshake_pb2.HandshakeRequest(
        version=VERSION,
        requester_rank=rank,
        supported_algos=[ECDH_PSI],
        protocol_families=[ECC],
        protocol_family_params=[_pack(proposal)],
        io_param=_pack(io),
    )
    return bytes(message.SerializeToString())


class Refused(HandshakeRefused):
    algorithm = "ECDH-PSI"


def _parse_request(data: bytes, sender: int) -> handshake_pb2.HandshakeRequest:
    return parse_request(data, sender, ECDH_PSI, Refused)


def _unpack(packed: any_pb2.Any, kind: type, what: str) -> object:
    try:
        message = unpacked(packed, kind, f"{what} is an unreadable {kind.__name__}")
    except MalformedMessage as exc:
        raise Refused(CODES.INVALID_REQUEST, exc.message) from exc
    if message is None:
        raise Refused(CODES.INVALID_REQUEST, f"{what} is not a {kind.__name__}")
    return message


def decide(
    own: Offer, requests: dict[int, handshake_pb2.HandshakeRequest]
) -> tuple[EcdhSuite, int, int]:
    """Rank 0's choice: (suite, bit length after truncation or -1, result_to_rank)."""
    common = list(own.suites)
    counts = [own.item_count]
    truncation = True
    for sender, message in requests.items():
        families = dict(
            zip(message.protocol_families, message.protocol_family_params, strict=False)
        )
        if ECC not in families:
            raise Refused(CODES.UNSUPPORTED_PARAMS, f"rank {sender} offers no ECC parameters")
        proposal = _unpack(families[ECC], ecc_pb2.EccProtocolProposal, f"rank {sender}'s ECC offer")
        assert isinstance(proposal, ecc_pb2.EccProtocolProposal)
        offered = {(s.curve, s.hash, s.hash2curve_strategy) for s in proposal.ec_suits}
        formats = set(proposal.point_octet_formats)
        common = [
            s
            for s in common
            if (s.curve, s.hash, s.hash2curve) in offered and FORMATS[s.curve] in formats
        ]
        truncation = truncation and proposal.support_point_truncation
        if message.HasField("io_param"):
            io = _unpack(message.io_param, psi_handshake_pb2.PsiDataIoProposal, "io_param")
            assert isinstance(io, psi_handshake_pb2.PsiDataIoProposal)
            counts.append(io.item_num)
    if not common:
        raise Refused(CODES.UNSUPPORTED_PARAMS, "no ECC suite every party supports")
    bits = truncation_bits(counts) if truncation and len(counts) == 2 else -1
    return common[0], bits, own.result_to_rank


def response(suite: EcdhSuite, bits: int, result_to_rank: int) -> bytes:
    result = ecc_pb2.EccProtocolResult(
        version=1,
        ec_suit=_suit(suite),
        point_octet_format=FORMATS[suite.curve],
        bit_length_after_truncated=bits,
    )
    message = handshake_pb2.HandshakeResponse(
        header=interconnection_common_pb2.ResponseHeader(error_code=CODES.OK),
        algo=ECDH_PSI,
        protocol_families=[ECC],
        protocol_family_params=[_pack(result)],
        io_param=_pack(psi_handshake_pb2.PsiDataIoResult(version=1, result_to_rank=result_to_rank)),
    )
    return bytes(message.SerializeToString())


def refusal(error: Refused) -> bytes:
    header = interconnection_common_pb2.ResponseHeader(
        error_code=error.code, error_msg=error.message
    )
    return bytes(handshake_pb2.HandshakeResponse(header=header).SerializeToString())


def apply_response(data: bytes, offer: Offer) -> tuple[EcdhSuite, int, int]:
    try:
        message = parse(
            handshake_pb2.HandshakeResponse, data, "rank 0 answered no HandshakeResponse"
        )
    except MalformedMessage as exc:
        raise AlgorithmError(exc.message) from exc
    if message.header.error_code != CODES.OK:
        raise Refused(message.header.error_code, f"by rank 0: {message.header.error_msg}")
    families = _families(message.protocol_families, message.protocol_family_params)
    if message.algo != ECDH_PSI or ECC not in families:
        raise AlgorithmError("rank 0 chose another algorithm or no ECC parameters")
    try:
        result = unpacked(
            families[ECC], ecc_pb2.EccProtocolResult, "rank 0's ECC result is unreadable"
        )
        io_result = unpacked(
            message.io_param, psi_handshake_pb2.PsiDataIoResult, "rank 0's io result is unreadable"
        )
        io_proposal = unpacked(  # SecretFlow sends this one [Δ]
            message.io_param,
            psi_handshake_pb2.PsiDataIoProposal,
            "rank 0's io proposal is unreadable",
        )
    except MalformedMessage as exc:
        raise AlgorithmError(exc.message) from exc
    if result is None:
        raise AlgorithmError("rank 0's ECC result is not an EccProtocolResult")
    chosen = (result.ec_suit.curve, result.ec_suit.hash, result.ec_suit.hash2curve_strategy)
    suite = next((s for s in offer.suites if (s.curve, s.hash, s.hash2curve) == chosen), None)
    if suite is None:
        raise AlgorithmError(f"rank 0 chose suite {chosen}, which we did not offer")
    result_to_rank = offer.result_to_rank
    if io_result is not None:
        result_to_rank = io_result.result_to_rank
    elif io_proposal is not None:
        result_to_rank = io_proposal.result_to_rank
    return suite, result.bit_length_after_truncated, result_to_rank


async def negotiate(link: LinkContext, offer: Offer, base: PsiSettings) -> PsiSettings:
    """Run the handshake on ``link`` (channel ``root``); the settings both sides use."""
    if link.rank != 0:
        await link.send(0, request(link.rank, offer))
        suite, bits, result_to_rank = apply_response(await link.recv(0), offer)
    else:
        requests: dict[int, handshake_pb2.HandshakeRequest] = {}
        try:
            for peer in link.peers:
                requests[peer] = _parse_request(await link.recv(peer), peer)
            suite, bits, result_to_rank = decide(offer, requests)
        except Refused as error:
            for peer in link.peers:
                await link.send(peer, refusal(error))
            raise
        for peer in link.peers:
            await link.send(peer, response(suite, bits, result_to_rank))
    return replace(
        base,
        suite=suite,
        result_to_rank=result_to_rank,
        compare_bytes=bits // 8 if bits > 0 else suite.point_bytes,
        compare_from_end=suite.low_order_at_end,
    )
