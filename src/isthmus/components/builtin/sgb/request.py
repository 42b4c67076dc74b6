"""The passive party's side of the SGB handshake (PPCA handshake v2, digest §5.1).

The passive party (rank >= 1, feature holder) proposes; the active party (rank 0, label
holder, key owner) decides. What we send is what SecretFlow's passive sends
(docs/protocol.md §13): version 2, ``ALGO_TYPE_SGB`` with an ``SgbParamsProposal``
(version 1 and our support flags) and the PHE family with a ``PheProtocolProposal``
(version 1, Paillier, key sizes 2048/3072, and 1024 only when the job allows an insecure
key size — tests; then, unless switched off, ``EC_ELGAMAL`` once per curve we accept,
each paired with an ``EcElGamalProposal{curve_name}``: SM2 2, ED25519 3). Paillier
stays first, so SecretFlow's active party, which looks up the first Paillier entry,
reads the request as before. ``requester_rank`` carries our rank (SecretFlow leaves it
0; the active side does not read it).

The answer is either a refusal (``header.error_code`` non-zero, e.g. 31100200
``HANDSHAKE_REFUSED``), which becomes :class:`HandshakeRefused` naming the code and the
peer's message, or the parameters both sides then use (:class:`AcceptedParams`). The
answer is checked against what we offered: a feature we did not claim, a key size we
did not propose, an unknown algorithm or a ``bucket_eps`` whose bucket indices would
not fit SecretFlow's int8 are clear errors naming the field, never a silently different
training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from google.protobuf import any_pb2
from google.protobuf.message import Message

from isthmus.components.errors import AlgorithmError
from isthmus.wire.proto import handshake_pb2, interconnection_common_pb2, phe_pb2
from isthmus.wire.proto import sgb_handshake_pb2 as sgb_pb2
from isthmus.wire.protobuf import MalformedMessage, parse, unpacked

__all__ = [
    "MAX_BUCKETS_PER_FEATURE",
    "MAX_DEPTH",
    "AcceptedParams",
    "HandshakeRefused",
    "PassiveSupport",
    "build_request",
    "offered_key_sizes",
    "read_response",
]

VERSION = 2
SGB = handshake_pb2.ALGO_TYPE_SGB
PHE = handshake_pb2.PROTOCOL_FAMILY_PHE
HANDSHAKE_REFUSED = interconnection_common_pb2.HANDSHAKE_REFUSED
#: SecretFlow's bucket indices travel as int8: at most 127 buckets per feature.
MAX_BUCKETS_PER_FEATURE = 127
#: SecretFlow's range for ``max_depth``.
MAX_DEPTH = 16
#: An upper bound on ``num_round`` (a partner asking for more is refused, not obeyed).
MAX_ROUNDS = 10_000
_ALMOST_ONE = 1e-9


@dataclass(frozen=True)
class PassiveSupport:
    """What this passive party claims in its ``SgbParamsProposal``.

    Everything is claimed by default, as SecretFlow's passive party claims it. Claiming
    completely-SGB (the first tree on the label holder's features only) costs this
    party nothing: in that tree it receives no gradients and no bitmaps. With a flag
    off, an answer that uses the feature anyway is a clear error, never a silently
    different training.
    """

    completely_sgb: bool = True
    row_sample_by_tree: bool = True
    col_sample_by_tree: bool = True
    #: EC-ElGamal curves offered (``CurveType``: SM2 2, ED25519 3); empty: Paillier only
    ec_elgamal_curves: tuple[int, ...] = (2, 3)


@dataclass(frozen=True)
class AcceptedParams:
    """The parameters the active party decided, checked against our offer."""

    num_round: int
    max_depth: int
    row_sample_by_tree: float
    col_sample_by_tree: float
    bucket_eps: float
    use_completely_sgb: bool
    key_size: int  # Paillier's; 0 with EC-ElGamal
    phe_algo: int = phe_pb2.PHE_ALGO_PAILLIER
    ec_curve: int = 0  # EC-ElGamal's ``CurveType``; 0 with Paillier

    @property
    def buckets_per_feature(self) -> int:
        """``ceil(1 / bucket_eps) + 1``, as the bucketing derives it."""
        return math.ceil(1.0 / self.bucket_eps) + 1


class HandshakeRefused(AlgorithmError):
    """The active party refused our proposal (its code and message are kept)."""

    def __init__(self, code: int, message: str) -> None:
        name = interconnection_common_pb2.ErrorCode.Name(code) if _known(code) else "?"
        super().__init__(
            f"SGB handshake refused by the active party ({code} {name}): {message or '-'}"
        )
        self.code = code


def _known(code: int) -> bool:
    return code in interconnection_common_pb2.ErrorCode.values()


def offered_key_sizes(*, allow_insecure_key_size: bool) -> list[int]:
    """Paillier key sizes we propose: 2048 and 3072, plus 1024 only when allowed."""
    return ([1024] if allow_insecure_key_size else []) + [2048, 3072]


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def build_request(
    support: PassiveSupport, *, rank: int = 1, allow_insecure_key_size: bool = False
) -> bytes:
    """The ``HandshakeRequest`` bytes the passive party sends first."""
    proposal = sgb_pb2.SgbParamsProposal(
        supported_versions=[1],
        support_completely_sgb=support.completely_sgb,
        support_row_sample_by_tree=support.row_sample_by_tree,
        support_col_sample_by_tree=support.col_sample_by_tree,
    )
    paillier = phe_pb2.PaillierParamsProposal(
        key_sizes=offered_key_sizes(allow_insecure_key_size=allow_insecure_key_size)
    )
    curves = list(support.ec_elgamal_curves)
    phe = phe_pb2.PheProtocolProposal(
        supported_versions=[1],
        supported_phe_algos=[phe_pb2.PHE_ALGO_PAILLIER]
        + [phe_pb2.PHE_ALGO_EC_ELGAMAL] * len(curves),
        supported_phe_params=[_pack(paillier)]
        + [_pack(phe_pb2.EcElGamalProposal(curve_name=c)) for c in curves],
    )
    message = handshake_pb2.HandshakeRequest(
        version=VERSION,
        requester_rank=rank,
        supported_algos=[SGB],
        algo_params=[_pack(proposal)],
        protocol_families=[PHE],
        protocol_family_params=[_pack(phe)],
    )
    return bytes(message.SerializeToString())


def _field_error(field: str, problem: str) -> AlgorithmError:
    return AlgorithmError(f"SGB handshake response: {field} {problem}")


def _any(packed: any_pb2.Any, kind: type[Message], field: str) -> Message:
    try:
        message = unpacked(packed, kind, f"SGB handshake response: {field} is unreadable")
    except MalformedMessage as exc:
        raise AlgorithmError(exc.message) from exc
    if message is None:
        raise _field_error(field, f"is not a {kind.DESCRIPTOR.name}")
    return message


def _sample(value: float, supported: bool, field: str) -> float:
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise _field_error(field, f"must be in (0, 1], got {value!r}")
    if not supported and abs(value - 1.0) > _ALMOST_ONE:
        raise _field_error(field, f"is {value!r} although we did not claim support for it")
    return value


def read_response(
    data: bytes, support: PassiveSupport, *, allow_insecure_key_size: bool = False
) -> AcceptedParams:
    """The parameters in the active party's ``HandshakeResponse``.

    Raises :class:`HandshakeRefused` for a refusal, ``AlgorithmError`` naming the field
    for an answer that is unreadable or does not fit what we offered.
    """
    try:
        response = parse(
            handshake_pb2.HandshakeResponse, data, "the active party answered no HandshakeResponse"
        )
    except MalformedMessage as exc:
        raise AlgorithmError(exc.message) from exc
    if response.header.error_code != interconnection_common_pb2.OK:
        raise HandshakeRefused(response.header.error_code, response.header.error_msg)
    if response.algo != SGB:
        raise _field_error("algo", f"is {response.algo}, not ALGO_TYPE_SGB ({SGB})")
    sgb = _any(response.algo_param, sgb_pb2.SgbParamsResult, "algo_param")
    assert isinstance(sgb, sgb_pb2.SgbParamsResult)
    if sgb.version != 1:
        raise _field_error("SgbParamsResult.version", f"is {sgb.version}, we speak 1")
    if not 1 <= sgb.num_round <= MAX_ROUNDS:
        raise _field_error("SgbParamsResult.num_round", f"must be in 1..{MAX_ROUNDS}")
    if not 1 <= sgb.max_depth <= MAX_DEPTH:
        raise _field_error(
            "SgbParamsResult.max_depth", f"must be in 1..{MAX_DEPTH}, got {sgb.max_depth}"
        )
    row = _sample(
        sgb.row_sample_by_tree, support.row_sample_by_tree, "SgbParamsResult.row_sample_by_tree"
    )
    col = _sample(
        sgb.col_sample_by_tree, support.col_sample_by_tree, "SgbParamsResult.col_sample_by_tree"
    )
    eps = sgb.bucket_eps
    if not (math.isfinite(eps) and 0.0 < eps <= 1.0):
        raise _field_error("SgbParamsResult.bucket_eps", f"must be in (0, 1], got {eps!r}")
    buckets = math.ceil(1.0 / eps) + 1
    if buckets > MAX_BUCKETS_PER_FEATURE:
        raise _field_error(
            "SgbParamsResult.bucket_eps",
            f"{eps!r} needs {buckets} buckets per feature, but SecretFlow's bucket indices "
            f"are int8 on the wire (at most {MAX_BUCKETS_PER_FEATURE})",
        )
    if sgb.use_completely_sgb and not support.completely_sgb:
        raise _field_error("SgbParamsResult.use_completely_sgb", "is set but we did not claim it")
    families = dict(zip(response.protocol_families, response.protocol_family_params, strict=False))
    if PHE not in families:
        raise _field_error("protocol_families", "has no PHE family")
    phe = _any(families[PHE], phe_pb2.PheProtocolResult, "PheProtocolResult")
    assert isinstance(phe, phe_pb2.PheProtocolResult)
    if phe.version != 1:
        raise _field_error("PheProtocolResult.version", f"is {phe.version}, we speak 1")
    if phe.phe_algo == phe_pb2.PHE_ALGO_EC_ELGAMAL:
        ec = _any(phe.phe_param, phe_pb2.EcElGamalResult, "PheProtocolResult.phe_param")
        assert isinstance(ec, phe_pb2.EcElGamalResult)
        if ec.curve_name not in support.ec_elgamal_curves:
            raise _field_error(
                "EcElGamalResult.curve_name",
                f"is {ec.curve_name}, we offered {list(support.ec_elgamal_curves)}",
            )
        return AcceptedParams(
            sgb.num_round, sgb.max_depth, row, col, eps, False, 0,
            phe_algo=phe.phe_algo, ec_curve=ec.curve_name,
        )  # fmt: skip
    if phe.phe_algo != phe_pb2.PHE_ALGO_PAILLIER:
        raise _field_error("PheProtocolResult.phe_algo", f"is {phe.phe_algo}, not Paillier")
    paillier = _any(phe.phe_param, phe_pb2.PaillierParamsResult, "PheProtocolResult.phe_param")
    assert isinstance(paillier, phe_pb2.PaillierParamsResult)
    offered = offered_key_sizes(allow_insecure_key_size=allow_insecure_key_size)
    if paillier.key_size not in offered:
        raise _field_error(
            "PaillierParamsResult.key_size", f"is {paillier.key_size}, we offered {offered}"
        )
    return AcceptedParams(
        num_round=sgb.num_round,
        max_depth=sgb.max_depth,
        row_sample_by_tree=row,
        col_sample_by_tree=col,
        bucket_eps=eps,
        use_completely_sgb=sgb.use_completely_sgb,
        key_size=paillier.key_size,
    )
