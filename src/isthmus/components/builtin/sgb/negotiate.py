"""The SGB handshake on the active party's side (digest §5.1, docs/protocol.md §13).

The active party (rank 0) is the handshake *responder*: it reads one ``HandshakeRequest``
from every passive party (``root:P2P-1:<r>->0``), decides, and answers every one of them
the same ``HandshakeResponse`` (``root:P2P-1:0-><r>``). What it decides is what
SecretFlow's ``SgbIcHandler`` decides (secretflow-lite 1.10.0b1):

* a request without an SGB proposal, or without a Paillier proposal, is refused;
* completely-SGB wanted but not supported by *every* passive party: refused;
* row / column sampling not supported by every passive party: silently set to 1.0;
* the key size not offered by every passive party (the intersection of their
  ``key_sizes``): refused.

Beyond SecretFlow (Isthmus parties): with ``phe_algo = ec_elgamal`` the active party
answers ``PheProtocolResult{phe_algo EC_ELGAMAL, EcElGamalResult{curve_name}}`` when
every passive party offered ``EC_ELGAMAL`` with an ``EcElGamalProposal`` for
``ec_curve`` (one ``supported_phe_algos`` entry per curve, each paired with its
proposal); otherwise — a SecretFlow passive party offers only Paillier — it refuses
(``negotiate ec_elgamal params failed``).

A refusal is a response whose header carries ``HANDSHAKE_REFUSED`` (31100200) and a
message, sent to every passive party; then :func:`negotiate` raises, so the component
fails with the reason instead of training on parameters a partner did not accept.

Guarantee: :func:`negotiate` returns settings that every passive party has accepted
(they are exactly what the response carries), or raises ``HandshakeRefused``; a request
that is not a readable ``HandshakeRequest`` is refused with the reason, naming the rank.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from google.protobuf import any_pb2

from isthmus.components.builtin.sgb.settings import SgbSettings
from isthmus.components.errors import AlgorithmError
from isthmus.link import LinkContext
from isthmus.wire.proto import handshake_pb2, interconnection_common_pb2, phe_pb2
from isthmus.wire.proto import sgb_handshake_pb2 as sgb_pb2
from isthmus.wire.protobuf import MalformedMessage, parse, unpacked

SGB = handshake_pb2.ALGO_TYPE_SGB
PHE = handshake_pb2.PROTOCOL_FAMILY_PHE
PAILLIER = phe_pb2.PHE_ALGO_PAILLIER
EC_ELGAMAL = phe_pb2.PHE_ALGO_EC_ELGAMAL
CURVES = {"sm2": 2, "ed25519": 3}
HANDSHAKE_REFUSED = interconnection_common_pb2.HANDSHAKE_REFUSED
OK = interconnection_common_pb2.OK


class HandshakeRefused(AlgorithmError):
    """The handshake ended in a refusal (ours, sent to the passive parties)."""


@dataclass(frozen=True)
class Proposal:
    """What one passive party's request offers (``None``: the part is missing)."""

    sgb: sgb_pb2.SgbParamsProposal | None
    paillier_key_sizes: frozenset[int] | None
    ec_curves: frozenset[int] = frozenset()


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def read_request(data: bytes, rank: int) -> Proposal:
    """The SGB and Paillier parts of rank ``rank``'s ``HandshakeRequest``.

    Raises ``MalformedMessage`` when the bytes are not a request at all."""
    what = f"rank {rank}: HandshakeRequest"
    request = parse(handshake_pb2.HandshakeRequest, data, what)
    sgb: sgb_pb2.SgbParamsProposal | None = None
    algos = list(request.supported_algos)
    if SGB in algos and algos.index(SGB) < len(request.algo_params):
        sgb = unpacked(
            request.algo_params[algos.index(SGB)], sgb_pb2.SgbParamsProposal, f"{what} SGB"
        )
    sizes: frozenset[int] | None = None
    families = list(request.protocol_families)
    if PHE in families and families.index(PHE) < len(request.protocol_family_params):
        phe = unpacked(
            request.protocol_family_params[families.index(PHE)],
            phe_pb2.PheProtocolProposal,
            f"{what} PHE",
        )
        phe_algos = list(phe.supported_phe_algos) if phe is not None else []
        if phe is not None and PAILLIER in phe_algos:
            index = phe_algos.index(PAILLIER)
            if index < len(phe.supported_phe_params):
                paillier = unpacked(
                    phe.supported_phe_params[index],
                    phe_pb2.PaillierParamsProposal,
                    f"{what} Paillier",
                )
                if paillier is not None:
                    sizes = frozenset(int(k) for k in paillier.key_sizes)
        if phe is not None:
            curves = set()
            for algo, param in zip(phe_algos, phe.supported_phe_params, strict=False):
                if algo != EC_ELGAMAL:
                    continue
                ec = unpacked(param, phe_pb2.EcElGamalProposal, f"{what} EC-ElGamal")
                if ec is not None:
                    curves.add(int(ec.curve_name))
            return Proposal(sgb, sizes, frozenset(curves))
    return Proposal(sgb, sizes)


def decide(settings: SgbSettings, proposals: list[Proposal]) -> tuple[SgbSettings, str | None]:
    """SecretFlow's negotiation: the settings to answer, or a refusal's reason."""
    if any(p.sgb is None for p in proposals):
        return settings, "negotiate sgb algo failed"
    sgb = [p.sgb for p in proposals if p.sgb is not None]
    if settings.use_completely_sgb and not all(s.support_completely_sgb for s in sgb):
        return settings, "negotiate completely_sgb failed"
    if not all(s.support_row_sample_by_tree for s in sgb):
        settings = replace(settings, row_sample_by_tree=1.0)
    if not all(s.support_col_sample_by_tree for s in sgb):
        settings = replace(settings, col_sample_by_tree=1.0)
    if settings.phe_algo == "ec_elgamal":
        curve = CURVES[settings.ec_curve]
        if not all(curve in p.ec_curves for p in proposals):
            return settings, (
                f"negotiate ec_elgamal params failed: a passive party does not offer "
                f"EC-ElGamal on {settings.ec_curve.upper()} (curve {curve})"
            )
        return settings, None
    if any(p.paillier_key_sizes is None for p in proposals):
        return settings, "negotiate phe algo failed"
    offered = frozenset.intersection(*(p.paillier_key_sizes or frozenset() for p in proposals))
    if settings.key_bits not in offered:
        return settings, "negotiate paillier params failed"
    return settings, None


def build_response(settings: SgbSettings) -> handshake_pb2.HandshakeResponse:
    """The accepting response: SGB parameters and the PHE scheme (Paillier's key size or
    EC-ElGamal's curve)."""
    response = handshake_pb2.HandshakeResponse()
    response.header.error_code = OK
    response.algo = SGB
    response.algo_param.Pack(
        sgb_pb2.SgbParamsResult(
            version=1,
            num_round=settings.num_round,
            max_depth=settings.max_depth,
            row_sample_by_tree=settings.row_sample_by_tree,
            col_sample_by_tree=settings.col_sample_by_tree,
            bucket_eps=settings.bucket_eps,
            use_completely_sgb=settings.use_completely_sgb,
        )
    )
    if settings.phe_algo == "ec_elgamal":
        phe = phe_pb2.PheProtocolResult(version=1, phe_algo=EC_ELGAMAL)
        phe.phe_param.Pack(phe_pb2.EcElGamalResult(curve_name=CURVES[settings.ec_curve]))
    else:
        phe = phe_pb2.PheProtocolResult(version=1, phe_algo=PAILLIER)
        phe.phe_param.Pack(phe_pb2.PaillierParamsResult(key_size=settings.key_bits))
    response.protocol_families.append(PHE)
    response.protocol_family_params.append(_pack(phe))
    return response


def build_refusal(reason: str) -> handshake_pb2.HandshakeResponse:
    response = handshake_pb2.HandshakeResponse()
    response.header.error_code = HANDSHAKE_REFUSED
    response.header.error_msg = reason
    return response


async def negotiate(link: LinkContext, settings: SgbSettings) -> SgbSettings:
    """Run the responder's side with every passive party; the settings all accepted."""
    proposals: list[Proposal] = []
    problem: str | None = None
    for rank in link.peers:
        data = await link.recv(rank)
        try:
            proposals.append(read_request(data, rank))
        except MalformedMessage as exc:
            problem = problem or f"rank {rank}: unreadable HandshakeRequest ({exc.message})"
    if problem is None:
        settings, problem = decide(settings, proposals)
    response = build_refusal(problem) if problem is not None else build_response(settings)
    payload = response.SerializeToString()
    for rank in link.peers:
        await link.send(rank, payload)
    if problem is not None:
        raise HandshakeRefused(f"SGB handshake refused: {problem}")
    return settings
