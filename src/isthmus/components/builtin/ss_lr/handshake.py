"""The SS-LR handshake on the PPCA v2 frame (digest §5.1, §5.3; docs/protocol.md §18).

Every rank but 0 sends rank 0 a ``HandshakeRequest``: algorithm ``SS_LR`` with an
``LrHyperparamsProposal`` (SGD, DISCARD, whether it can apply an L2 norm), op
``SIGMOID`` with a ``SigmoidParamsProposal`` (MINIMAX_1), protocol family ``SS`` with an
``SSProtocolProposal`` (SEMI2K; its field, truncation and PRG first, then the others it
also accepts; RAW shards; the TTP triple service), and an ``LrDataIoProposal`` (rows,
features, whether it holds the label). Rank 0 decides its own parameters if every
proposal accepts them, the rows agree, exactly one party holds the label and it is the
``label_owner``, and answers the ``*Result`` messages with every rank's feature count,
or a refusal whose header carries the PPCA code and names the field. Each requester
checks the decision fits what it offered. Both sides then run what was decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from google.protobuf import any_pb2

from isthmus.components.builtin.handshake_v2 import HandshakeRefused, parse_request
from isthmus.components.builtin.ss_lr.params import PrgCryptoName, Settings, TruncMode
from isthmus.components.builtin.ss_lr.plan import TrainPlan
from isthmus.components.errors import AlgorithmError
from isthmus.link import LinkContext
from isthmus.wire.proto import (
    handshake_pb2,
    interconnection_common_pb2,
    lr_handshake_pb2,
    sigmoid_handshake_pb2,
    ss_handshake_pb2,
)
from isthmus.wire.protobuf import MalformedMessage, parse, unpacked

VERSION: Final = 2
SS_LR: Final = handshake_pb2.ALGO_TYPE_SS_LR
SIGMOID: Final = handshake_pb2.OP_TYPE_SIGMOID
SS: Final = handshake_pb2.PROTOCOL_FAMILY_SS
CODES = interconnection_common_pb2
LR = lr_handshake_pb2
SSP = ss_handshake_pb2
SIG = sigmoid_handshake_pb2
FIELDS: Final = {64: SSP.FIELD_TYPE_64, 128: SSP.FIELD_TYPE_128}
TRUNCS: Final = {"probabilistic": SSP.TRUNC_MODE_PROBABILISTIC, "precise": SSP.TRUNC_MODE_PRECISE}
PRGS: Final = {"AES128_CTR": SSP.CRYPTO_TYPE_AES128_CTR, "SM4_CTR": SSP.CRYPTO_TYPE_SM4_CTR}
TRIPLE_SERVER_VERSION: Final = 1


class Refused(HandshakeRefused):
    algorithm = "SS-LR"


@dataclass(frozen=True)
class Offer:
    """What one party brings: its settings, rows and features, whether it has the label;
    ``session_id`` names the TTP session (rank 0's is used)."""

    settings: Settings
    rows: int
    features: int
    has_label: bool
    session_id: str = ""


@dataclass(frozen=True)
class Agreement:
    """What every party runs."""

    plan: TrainPlan
    rows: int
    field: int
    fxp_bits: int
    trunc_mode: TruncMode
    prg_crypto: PrgCryptoName
    ttp_host: str
    ttp_session: str
    adjust_rank: int


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _first_then(own: Any, every: Any) -> list[Any]:
    return [own, *(v for v in every if v != own)]


def request(rank: int, offer: Offer) -> bytes:
    s = offer.settings
    ss = SSP.SSProtocolProposal(
        supported_versions=[1],
        supported_protocols=[SSP.PROTOCOL_KIND_SEMI2K],
        field_types=[FIELDS[f] for f in _first_then(s.field, FIELDS)],
        trunc_modes=[
            SSP.TruncationModeProposal(
                supported_versions=[1],
                method=TRUNCS[t],
                compatible_protocols=[SSP.PROTOCOL_KIND_SEMI2K],
            )
            for t in _first_then(s.trunc_mode, TRUNCS)
        ],
        prg_configs=[
            SSP.PrgConfigProposal(supported_versions=[1], crypto_type=PRGS[c])
            for c in _first_then(s.prg_crypto, PRGS)
        ],
        shard_serialize_formats=[SSP.SHARED_SERIALIZE_FORMAT_RAW],
        triple_configs=[
            SSP.TripleConfigProposal(supported_versions=[1], sever_version=TRIPLE_SERVER_VERSION)
        ],
    )
    message = handshake_pb2.HandshakeRequest(
        version=VERSION,
        requester_rank=rank,
        supported_algos=[SS_LR],
        algo_params=[
            _pack(
                LR.LrHyperparamsProposal(
                    supported_versions=[1],
                    optimizers=[LR.OPTIMIZER_SGD],
                    last_batch_policies=[LR.LAST_BATCH_POLICY_DISCARD],
                    use_l2_norm=True,
                )
            )
        ],
        ops=[SIGMOID],
        op_params=[_pack(SIG.SigmoidParamsProposal(supported_versions=[1], sigmoid_modes=[1]))],
        protocol_families=[SS],
        protocol_family_params=[_pack(ss)],
        io_param=_pack(
            LR.LrDataIoProposal(
                supported_versions=[1],
                sample_size=offer.rows,
                feature_num=offer.features,
                has_label=offer.has_label,
            )
        ),
    )
    return bytes(message.SerializeToString())


def _unpack(packed: any_pb2.Any, kind: type[Any], what: str) -> Any:
    try:
        message = unpacked(packed, kind, f"{what} is an unreadable {kind.__name__}")
    except MalformedMessage as exc:
        raise Refused(CODES.INVALID_REQUEST, exc.message) from exc
    if message is None:
        raise Refused(CODES.INVALID_REQUEST, f"{what} is not a {kind.__name__}")
    return message


def _one(items: Any, params: Any, key: int, kind: type[Any], what: str) -> Any:
    chosen = dict(zip(items, params, strict=False))
    if key not in chosen:
        raise Refused(CODES.UNSUPPORTED_PARAMS, f"{what}: no {kind.__name__}")
    return _unpack(chosen[key], kind, what)


def _need(ok: bool, field: str, problem: str) -> None:
    if not ok:
        raise Refused(CODES.UNSUPPORTED_PARAMS, f"{field}: {problem}")


def _parse_request(data: bytes, sender: int) -> handshake_pb2.HandshakeRequest:
    return parse_request(data, sender, SS_LR, Refused)


def _check_proposal(own: Offer, sender: int, message: handshake_pb2.HandshakeRequest) -> None:
    s = own.settings
    who = f"rank {sender}"
    lr = _one(message.supported_algos, message.algo_params, SS_LR, LR.LrHyperparamsProposal, who)
    _need(LR.OPTIMIZER_SGD in lr.optimizers, "optimizer", f"{who} does not accept sgd")
    _need(
        LR.LAST_BATCH_POLICY_DISCARD in lr.last_batch_policies,
        "last_batch_policy",
        f"{who} does not accept discard",
    )
    _need(lr.use_l2_norm or not s.l2_norm, "l2_norm", f"{who} cannot apply an L2 norm")
    sig = _one(message.ops, message.op_params, SIGMOID, SIG.SigmoidParamsProposal, who)
    _need(SIG.SIGMOID_MODE_MINIMAX_1 in sig.sigmoid_modes, "sigmoid_mode", f"{who}: no minimax_1")
    ss = _one(
        message.protocol_families, message.protocol_family_params, SS, SSP.SSProtocolProposal, who
    )
    _need(SSP.PROTOCOL_KIND_SEMI2K in ss.supported_protocols, "protocol", f"{who}: no semi2k")
    _need(FIELDS[s.field] in ss.field_types, "field", f"{who} does not accept {s.field}")
    methods = [t.method for t in ss.trunc_modes]
    _need(TRUNCS[s.trunc_mode] in methods, "trunc_mode", f"{who}: no {s.trunc_mode}")
    cryptos = [c.crypto_type for c in ss.prg_configs]
    _need(PRGS[s.prg_crypto] in cryptos, "prg_crypto", f"{who}: no {s.prg_crypto}")
    _need(
        SSP.SHARED_SERIALIZE_FORMAT_RAW in ss.shard_serialize_formats,
        "shard_serialize_format",
        f"{who}: no raw",
    )
    _need(not s.use_ttp or bool(ss.triple_configs), "use_ttp", f"{who} has no TTP client")


def decide(own: Offer, requests: dict[int, handshake_pb2.HandshakeRequest]) -> Agreement:
    """Rank 0's decision, or :class:`Refused` naming the rank and the field at fault."""
    s = own.settings
    features = [own.features]
    holders = [0] if own.has_label else []
    for sender, message in sorted(requests.items()):
        _check_proposal(own, sender, message)
        io = _unpack(message.io_param, LR.LrDataIoProposal, f"rank {sender} io_param")
        if io.sample_size != own.rows:
            raise Refused(
                CODES.INVALID_REQUEST,
                f"sample_size: rank {sender} has {io.sample_size} rows, rank 0 has {own.rows} "
                "(align the parties' rows, e.g. with ecdh_psi, first)",
            )
        features.append(int(io.feature_num))
        if io.has_label:
            holders.append(sender)
    if holders != [s.label_rank]:
        raise Refused(
            CODES.INVALID_REQUEST,
            f"label_owner: rank {s.label_rank} should hold the label, ranks {holders} do",
        )
    if s.feature_nums is not None and tuple(features) != s.feature_nums:
        raise Refused(
            CODES.INVALID_REQUEST,
            f"feature_nums: the parties have {features}, the job says {list(s.feature_nums)}",
        )
    plan = TrainPlan(
        s.num_epoch, s.batch_size, s.learning_rate, s.l2_norm, tuple(features), s.label_rank
    )
    return Agreement(
        plan,
        own.rows,
        s.field,
        s.fxp_bits,
        s.trunc_mode,
        s.prg_crypto,
        s.ttp_server_host if s.use_ttp else "",
        own.session_id if s.use_ttp else "",
        s.ttp_adjust_rank,
    )


def response(agreement: Agreement) -> bytes:
    a, plan = agreement, agreement.plan
    ss = SSP.SSProtocolResult(
        version=1,
        protocol=SSP.PROTOCOL_KIND_SEMI2K,
        field_type=FIELDS[a.field],
        trunc_mode=SSP.TruncationModeResult(version=1, method=TRUNCS[a.trunc_mode]),
        prg_config=SSP.PrgConfigResult(version=1, crypto_type=PRGS[a.prg_crypto]),
        fxp_fraction_bits=a.fxp_bits,
        shard_serialize_format=SSP.SHARED_SERIALIZE_FORMAT_RAW,
    )
    if a.ttp_host:
        ss.triple_config.CopyFrom(
            SSP.TripleConfigResult(
                version=1,
                server_host=a.ttp_host,
                sever_version=TRIPLE_SERVER_VERSION,
                session_id=a.ttp_session,
                adjust_rank=a.adjust_rank,
            )
        )
    hyper = LR.LrHyperparamsResult(
        version=1,
        optimizer_name=LR.OPTIMIZER_SGD,
        optimizer_param=_pack(LR.SgdOptimizer(learning_rate=plan.learning_rate)),
        num_epoch=plan.num_epoch,
        batch_size=plan.batch_size,
        last_batch_policy=LR.LAST_BATCH_POLICY_DISCARD,
        l2_norm=plan.l2_norm,
    )
    message = handshake_pb2.HandshakeResponse(
        header=interconnection_common_pb2.ResponseHeader(error_code=CODES.OK),
        algo=SS_LR,
        algo_param=_pack(hyper),
        ops=[SIGMOID],
        op_params=[_pack(SIG.SigmoidParamsResult(version=1, sigmoid_mode=1))],
        protocol_families=[SS],
        protocol_family_params=[_pack(ss)],
        io_param=_pack(
            LR.LrDataIoResult(
                version=1,
                sample_size=a.rows,
                feature_nums=list(plan.feature_nums),
                label_rank=plan.label_rank,
            )
        ),
    )
    return bytes(message.SerializeToString())


def refusal(error: Refused) -> bytes:
    header = interconnection_common_pb2.ResponseHeader(
        error_code=error.code, error_msg=error.message
    )
    return bytes(handshake_pb2.HandshakeResponse(header=header).SerializeToString())


def _key(table: Mapping[Any, Any], value: int, field: str) -> Any:
    for key, number in table.items():
        if number == value:
            return key
    raise Refused(CODES.UNSUPPORTED_PARAMS, f"{field}: rank 0 chose {value}, not offered")


def apply_response(data: bytes, rank: int, offer: Offer) -> Agreement:
    """A requester's reading of rank 0's answer; AlgorithmError if it is a refusal or
    does not fit what this party offered."""
    try:
        message = parse(handshake_pb2.HandshakeResponse, data, "rank 0's HandshakeResponse")
    except MalformedMessage as exc:
        raise AlgorithmError(exc.message) from exc
    if message.header.error_code != CODES.OK:
        raise Refused(message.header.error_code, f"by rank 0: {message.header.error_msg}")
    if message.algo != SS_LR:
        raise AlgorithmError(f"rank 0 chose algorithm {message.algo}, not SS-LR")
    try:
        hyper = _unpack(message.algo_param, LR.LrHyperparamsResult, "rank 0 algo_param")
        _need(hyper.optimizer_name == LR.OPTIMIZER_SGD, "optimizer", "rank 0 chose not sgd")
        sgd = _unpack(hyper.optimizer_param, LR.SgdOptimizer, "rank 0 optimizer_param")
        _need(
            hyper.last_batch_policy == LR.LAST_BATCH_POLICY_DISCARD,
            "last_batch_policy",
            "rank 0 chose not discard",
        )
        _need(hyper.num_epoch > 0 and hyper.batch_size > 0, "num_epoch", "must be positive")
        sig = _one(message.ops, message.op_params, SIGMOID, SIG.SigmoidParamsResult, "rank 0")
        _need(sig.sigmoid_mode == SIG.SIGMOID_MODE_MINIMAX_1, "sigmoid_mode", "not minimax_1")
        ss = _one(
            message.protocol_families,
            message.protocol_family_params,
            SS,
            SSP.SSProtocolResult,
            "rank 0",
        )
        _need(ss.protocol == SSP.PROTOCOL_KIND_SEMI2K, "protocol", "rank 0 chose not semi2k")
        _need(
            ss.shard_serialize_format == SSP.SHARED_SERIALIZE_FORMAT_RAW,
            "shard_serialize_format",
            "rank 0 chose not raw",
        )
        field = int(_key(FIELDS, ss.field_type, "field"))
        _need(
            ss.fxp_fraction_bits > 0 and 2 * ss.fxp_fraction_bits + 8 <= field,
            "fxp_bits",
            f"{ss.fxp_fraction_bits} does not fit ring 2^{field}",
        )
        io = _unpack(message.io_param, LR.LrDataIoResult, "rank 0 io_param")
        nums = tuple(int(n) for n in io.feature_nums)
        _need(io.sample_size == offer.rows, "sample_size", f"rank 0 has {io.sample_size} rows")
        _need(
            rank < len(nums) and nums[rank] == offer.features,
            "feature_nums",
            f"rank 0 says {list(nums)}, this party has {offer.features}",
        )
        _need(
            (io.label_rank == rank) == offer.has_label,
            "label_owner",
            f"rank 0 says rank {io.label_rank} holds the label",
        )
        _need(0 <= io.label_rank < len(nums), "label_owner", "not a rank")
        triple = ss.triple_config if ss.HasField("triple_config") else SSP.TripleConfigResult()
        host = str(triple.server_host)
        _need(not host or 0 <= triple.adjust_rank < len(nums), "ttp_adjust_rank", "not a rank")
        # the TTP learns every party's triple shares: a party computes only with the one
        # it named itself, never with a service rank 0 alone chose
        mine = offer.settings.ttp_server_host if offer.settings.use_ttp else ""
        _need(
            not host or host == mine,
            "ttp_server_host",
            f"rank 0 chose the Beaver service {host[:100]!r}; this party trusts "
            f"{repr(mine) if mine else 'none (use_ttp is off)'}",
        )
    except Refused as exc:
        raise AlgorithmError(exc.message) from exc
    plan = TrainPlan(
        int(hyper.num_epoch),
        int(hyper.batch_size),
        float(sgd.learning_rate),
        float(hyper.l2_norm),
        nums,
        int(io.label_rank),
    )
    return Agreement(
        plan,
        int(io.sample_size),
        field,
        int(ss.fxp_fraction_bits),
        cast(TruncMode, _key(TRUNCS, ss.trunc_mode.method, "trunc_mode")),
        cast(PrgCryptoName, _key(PRGS, ss.prg_config.crypto_type, "prg_crypto")),
        host,
        str(triple.session_id),
        int(triple.adjust_rank),
    )


async def negotiate(link: LinkContext, offer: Offer) -> Agreement:
    """Run the handshake on ``link``: rank 0 decides, every rank returns the decision."""
    if link.rank != 0:
        await link.send(0, request(link.rank, offer))
        agreement = apply_response(await link.recv(0), link.rank, offer)
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
    if len(agreement.plan.feature_nums) != link.world_size:
        raise AlgorithmError("handshake: feature_nums does not name every rank")
    return agreement


def without_handshake(offer: Offer, world_size: int) -> Agreement:
    """BFIA mode: every party takes the job's parameters as given (``feature_nums`` must
    then name every party; this party's count is checked against its table)."""
    s = offer.settings
    if s.feature_nums is None:
        raise AlgorithmError("feature_nums: BFIA mode (handshake=false) needs it")
    plan = TrainPlan(
        s.num_epoch, s.batch_size, s.learning_rate, s.l2_norm, s.feature_nums, s.label_rank
    )
    return Agreement(
        plan,
        offer.rows,
        s.field,
        s.fxp_bits,
        s.trunc_mode,
        s.prg_crypto,
        s.ttp_server_host if s.use_ttp else "",
        offer.session_id if s.use_ttp else "",
        s.ttp_adjust_rank,
    )
