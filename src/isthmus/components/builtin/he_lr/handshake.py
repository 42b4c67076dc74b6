"""The HE-LR handshake on the PPCA v2 frame (digest §5.1; docs/protocol.md §14.2).

Every feature holder (rank > 0) sends rank 0 (the label holder) a ``HandshakeRequest``:
algorithm ``ALGO_TYPE_HE_LR`` (an Isthmus value, 1001: PPCA's ``AlgoType`` has none for
HE-LR, and reusing ``SS_LR`` would let a PPCA peer take it for the secret-sharing
protocol), the phase (train or predict) in ``algo_params`` as a ``google.protobuf.Struct``,
for training the PHE family with ``PheProtocolProposal{PAILLIER,
PaillierParamsProposal{key_sizes}}``, and in ``io_param`` a ``Struct`` with its row and
feature counts. Rank 0 checks the version, the algorithm, the phase, that every party
has the same number of rows, that its key size is one every holder accepts, and
(when both send one) that the SHA-256 of their id columns agree, and answers the
decided hyper-parameters (``Struct``), the Paillier key size
(``PheProtocolResult``) and every rank's feature count; or a refusal whose header
carries the PPCA error code and says why. Both sides then run exactly what was decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from google.protobuf import any_pb2, struct_pb2

from isthmus.components.builtin.handshake_v2 import HandshakeRefused, parse_request
from isthmus.components.errors import AlgorithmError
from isthmus.link import LinkContext
from isthmus.wire.proto import handshake_pb2, interconnection_common_pb2, phe_pb2
from isthmus.wire.protobuf import MalformedMessage, parse, unpacked

VERSION: Final = 2
ALGO_TYPE_HE_LR: Final = 1001
"""Isthmus's ``AlgoType`` value for HE-LR (outside PPCA's 0..3; see the module doc)."""
PHE: Final = handshake_pb2.PROTOCOL_FAMILY_PHE
PAILLIER: Final = phe_pb2.PHE_ALGO_PAILLIER
CODES = interconnection_common_pb2
HYPERPARAMETERS: Final = ("learning_rate", "epochs", "batch_size", "l2", "tol")


class Refused(HandshakeRefused):
    algorithm = "HE-LR"


@dataclass(frozen=True)
class Offer:
    """What one party brings: the phase, its rows and features, the key sizes it
    accepts (best first), and, on rank 0, the hyper-parameters and key size it wants."""

    phase: str
    rows: int
    features: int
    key_sizes: tuple[int, ...] = ()
    hyper: dict[str, float] | None = None
    key_bits: int = 0
    ids_sha256: str = ""


@dataclass(frozen=True)
class Agreement:
    """What every party runs: hyper-parameters, key size (0 for predict), per-rank
    feature counts."""

    hyper: dict[str, float]
    key_bits: int
    feature_nums: tuple[int, ...]


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _struct(**values: Any) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def request(rank: int, offer: Offer) -> bytes:
    message = handshake_pb2.HandshakeRequest(
        version=VERSION,
        requester_rank=rank,
        supported_algos=[ALGO_TYPE_HE_LR],
        algo_params=[_pack(_struct(he_lr_versions=[1], phase=offer.phase))],
        io_param=_pack(
            _struct(sample_size=offer.rows, feature_num=offer.features, ids_sha256=offer.ids_sha256)
        ),
    )
    if offer.phase == "train":
        proposal = phe_pb2.PheProtocolProposal(
            supported_versions=[1],
            supported_phe_algos=[PAILLIER],
            supported_phe_params=[
                _pack(phe_pb2.PaillierParamsProposal(key_sizes=list(offer.key_sizes)))
            ],
        )
        message.protocol_families.append(PHE)
        message.protocol_family_params.append(_pack(proposal))
    return bytes(message.SerializeToString())


def _unpack(packed: any_pb2.Any, kind: type[Any], what: str) -> Any:
    try:
        message = unpacked(packed, kind, f"{what} is an unreadable {kind.__name__}")
    except MalformedMessage as exc:
        raise Refused(CODES.INVALID_REQUEST, exc.message) from exc
    if message is None:
        raise Refused(CODES.INVALID_REQUEST, f"{what} is not a {kind.__name__}")
    return message


def _number(struct: struct_pb2.Struct, key: str, what: str) -> float:
    value = struct.fields.get(key)
    if value is None or value.WhichOneof("kind") != "number_value":
        raise Refused(CODES.INVALID_REQUEST, f"{what}: {key} is missing or not a number")
    return float(value.number_value)


def _parse_request(data: bytes, sender: int) -> handshake_pb2.HandshakeRequest:
    return parse_request(data, sender, ALGO_TYPE_HE_LR, Refused)


def decide(own: Offer, requests: dict[int, handshake_pb2.HandshakeRequest]) -> Agreement:
    """Rank 0's decision, or :class:`Refused` naming the rank and the field at fault."""
    assert own.hyper is not None
    features = [own.features]
    for sender, message in sorted(requests.items()):
        if len(message.algo_params) != 1:
            raise Refused(CODES.INVALID_REQUEST, f"rank {sender}: algo_params must be one Struct")
        params = _unpack(message.algo_params[0], struct_pb2.Struct, f"rank {sender} algo_params")
        phase = params.fields.get("phase")
        if phase is None or phase.string_value != own.phase:
            raise Refused(
                CODES.UNSUPPORTED_PARAMS, f"rank {sender} is not in the {own.phase} phase"
            )
        io = _unpack(message.io_param, struct_pb2.Struct, f"rank {sender} io_param")
        rows = int(_number(io, "sample_size", f"rank {sender} io_param"))
        if rows != own.rows:
            raise Refused(
                CODES.INVALID_REQUEST,
                f"sample_size: rank {sender} has {rows} rows, rank 0 has {own.rows} "
                "(align the parties' rows, e.g. with ecdh_psi, first)",
            )
        digest = io.fields.get("ids_sha256")
        theirs = digest.string_value if digest is not None else ""
        if own.ids_sha256 and theirs and theirs != own.ids_sha256:
            raise Refused(
                CODES.INVALID_REQUEST,
                f"ids_sha256: rank {sender}'s id column is not rank 0's, row for row "
                "(the rows are not aligned: intersect, then split by key_field, first)",
            )
        features.append(int(_number(io, "feature_num", f"rank {sender} io_param")))
        if own.phase != "train":
            continue
        families = dict(
            zip(message.protocol_families, message.protocol_family_params, strict=False)
        )
        if PHE not in families:
            raise Refused(CODES.UNSUPPORTED_PARAMS, f"rank {sender} offers no PHE parameters")
        proposal = _unpack(families[PHE], phe_pb2.PheProtocolProposal, f"rank {sender} PHE")
        sizes: list[int] = []
        for algo, packed in zip(
            proposal.supported_phe_algos, proposal.supported_phe_params, strict=False
        ):
            if algo == PAILLIER:
                paillier = _unpack(packed, phe_pb2.PaillierParamsProposal, f"rank {sender}")
                sizes.extend(paillier.key_sizes)
        if own.key_bits not in sizes:
            raise Refused(
                CODES.UNSUPPORTED_PARAMS,
                f"key_bits: rank {sender} accepts Paillier keys of {sizes or 'no'} bits, "
                f"not {own.key_bits}",
            )
    return Agreement(dict(own.hyper), own.key_bits, tuple(features))


def response(agreement: Agreement) -> bytes:
    message = handshake_pb2.HandshakeResponse(
        header=interconnection_common_pb2.ResponseHeader(error_code=CODES.OK),
        algo=ALGO_TYPE_HE_LR,
        algo_param=_pack(_struct(version=1, **agreement.hyper)),
        io_param=_pack(_struct(feature_nums=list(agreement.feature_nums), label_rank=0)),
    )
    if agreement.key_bits:
        result = phe_pb2.PheProtocolResult(
            version=1,
            phe_algo=PAILLIER,
            phe_param=_pack(phe_pb2.PaillierParamsResult(key_size=agreement.key_bits)),
        )
        message.protocol_families.append(PHE)
        message.protocol_family_params.append(_pack(result))
    return bytes(message.SerializeToString())


def refusal(error: Refused) -> bytes:
    header = interconnection_common_pb2.ResponseHeader(
        error_code=error.code, error_msg=error.message
    )
    return bytes(handshake_pb2.HandshakeResponse(header=header).SerializeToString())


def apply_response(data: bytes, offer: Offer) -> Agreement:
    """A feature holder's reading of rank 0's answer; AlgorithmError if it is a refusal
    or does not fit what this party offered."""
    try:
        message = parse(handshake_pb2.HandshakeResponse, data, "rank 0's HandshakeResponse")
    except MalformedMessage as exc:
        raise AlgorithmError(exc.message) from exc
    if message.header.error_code != CODES.OK:
        raise Refused(message.header.error_code, f"by rank 0: {message.header.error_msg}")
    if message.algo != ALGO_TYPE_HE_LR:
        raise AlgorithmError(f"rank 0 chose algorithm {message.algo}, not HE-LR")
    try:
        hyper_struct = _unpack(message.algo_param, struct_pb2.Struct, "rank 0 algo_param")
        wanted = HYPERPARAMETERS if offer.phase == "train" else ()
        hyper = {k: _number(hyper_struct, k, "rank 0 algo_param") for k in wanted}
        io = _unpack(message.io_param, struct_pb2.Struct, "rank 0 io_param")
        nums = io.fields.get("feature_nums")
        if nums is None or nums.WhichOneof("kind") != "list_value":
            raise Refused(CODES.INVALID_REQUEST, "rank 0 io_param: feature_nums is missing")
        feature_nums = tuple(int(v.number_value) for v in nums.list_value.values)
        key_bits = 0
        if offer.phase == "train":
            families = dict(
                zip(message.protocol_families, message.protocol_family_params, strict=False)
            )
            if PHE not in families:
                raise AlgorithmError("rank 0 chose no PHE parameters")
            result = _unpack(families[PHE], phe_pb2.PheProtocolResult, "rank 0 PHE result")
            paillier = _unpack(result.phe_param, phe_pb2.PaillierParamsResult, "rank 0 PHE")
            if result.phe_algo != PAILLIER or paillier.key_size not in offer.key_sizes:
                raise AlgorithmError(
                    f"key_bits: rank 0 chose Paillier {paillier.key_size} bits, not one of "
                    f"{list(offer.key_sizes)}"
                )
            key_bits = int(paillier.key_size)
    except Refused as exc:
        raise AlgorithmError(exc.message) from exc
    return Agreement(hyper, key_bits, feature_nums)


async def negotiate(link: LinkContext, offer: Offer) -> Agreement:
    """Run the handshake on ``link``: rank 0 decides, every rank returns the decision."""
    if link.rank != 0:
        await link.send(0, request(link.rank, offer))
        agreement = apply_response(await link.recv(0), offer)
    else:
        requests: dict[int, handshake_pb2.HandshakeRequest] = {}
        try:
            for peer in link.peers:
                requests[peer] = _parse_request(await link.recv(peer), peer)
            agreement = decide(offer, requests)
        except Refused as error:
            for peer in link.peers:
                await link.send(peer, refusal(error))
            raise
        for peer in link.peers:
            await link.send(peer, response(agreement))
    if len(agreement.feature_nums) != link.world_size:
        raise AlgorithmError("handshake: feature_nums does not name every rank")
    return agreement
