"""SS-LR's parameters: the BFIA-mode names of the digest (§5.3), checked into a
:class:`Settings` before any message is sent.

The guarantee: every value a run depends on is checked here, and a value Isthmus cannot
honour (another protocol, ring, optimizer, sigmoid, norm or batch policy; a label owner
that is not a party of the task; a ``feature_nums`` that does not name every party or
disagrees with this party's table) is a :class:`ParameterError` naming the parameter,
instead of a run that silently computes something else. Enumerated values are the
proto names lower-cased without their prefix (``semi2k``, ``minimax_1``, ``sgd``), as
interconnection-impl spells them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from isthmus.components.errors import ParameterError
from isthmus.components.runtime import LINK_PARAMS
from isthmus.components.spec import Param
from isthmus.crypto.phe import KeySizeRefused, check_key_bits

RevealPolicy = Literal["own", "all"]
TruncMode = Literal["probabilistic", "precise"]
PrgCryptoName = Literal["AES128_CTR", "SM4_CTR"]

PROTOCOLS: tuple[str, ...] = ("semi2k",)
FIELDS: tuple[int, ...] = (64, 128)
TRUNC_MODES: tuple[str, ...] = ("probabilistic", "precise")
OPTIMIZERS: tuple[str, ...] = ("sgd",)
SIGMOID_MODES: tuple[str, ...] = ("minimax_1",)
LAST_BATCH_POLICIES: tuple[str, ...] = ("discard",)
PRG_CRYPTOS: dict[str, PrgCryptoName] = {"aes128_ctr": "AES128_CTR", "sm4_ctr": "SM4_CTR"}
REVEAL_POLICIES: tuple[str, ...] = ("own", "all")

TRAIN_PARAMS: tuple[Param, ...] = (
    Param("protocol", default="semi2k", description="MPC protocol: semi2k"),
    Param("field", type="int", default=64, description="ring 2^64 or 2^128: 64 or 128"),
    Param("fxp_bits", type="int", default=18, validator="[1,62]", description="fraction bits"),
    Param("trunc_mode", default="probabilistic", description="probabilistic or precise"),
    Param("shard_serialize_format", default="raw", description="share bytes: raw"),
    Param(
        "prg_crypto",
        default="aes128_ctr",
        description="Isthmus extension: the PRG cipher, aes128_ctr or sm4_ctr",
    ),
    Param("batch_size", type="int", default=64, validator="[1,inf)"),
    Param("last_batch_policy", default="discard", description="the partial batch: discard"),
    Param("num_epoch", type="int", default=5, validator="[1,100000]"),
    Param("l0_norm", type="float", default=0.0, validator="[0,inf)", description="must be 0"),
    Param("l1_norm", type="float", default=0.0, validator="[0,inf)", description="must be 0"),
    Param("l2_norm", type="float", default=0.0, validator="[0,inf)"),
    Param("optimizer", default="sgd", description="sgd"),
    Param("learning_rate", type="float", default=0.1, validator="(0,inf)"),
    Param("sigmoid_mode", default="minimax_1", description="0.5 + 0.125 x"),
    Param("use_ttp", type="boolean", default=False, description="Beaver triples from a TTP"),
    Param("ttp_server_host", default="", description="host:port of the Beaver TTP service"),
    Param(
        "ttp_ca_pem",
        default="",
        description="PEM CA certificate of the Beaver service: TLS to it (else plaintext)",
    ),
    Param("ttp_adjust_rank", type="int", default=0, validator="[0,inf)"),
    Param("label_owner", default="", description="the party holding the label, e.g. host.0"),
    Param("feature_nums", default="", description='JSON {party id: feature count}; "" to skip'),
    Param("skip_rows", type="int", default=0, validator="[0,inf)"),
    Param("id_col", default="id", description="Isthmus: the row id column (not a feature)"),
    Param("label_col", default="", description='the label column; "": the last column'),
    Param(
        "handshake",
        type="boolean",
        default=True,
        description="PPCA mode: negotiate with the v2 handshake (false: BFIA mode, the "
        "parameters above are taken as given by every party)",
    ),
    Param(
        "standardize",
        type="boolean",
        default=False,
        description="Isthmus: each party first standardises its own columns (training mean "
        "and population std; kept in the model for prediction)",
    ),
    Param(
        "reveal_weights_to",
        default="own",
        description="own: each party learns its own features' weights, the label owner "
        "also the bias; all: every party learns every weight",
    ),
    Param(
        "key_bits",
        type="int",
        default=2048,
        validator="[1024,3072]",
        description="Paillier modulus of the dealer-free (HE) triples",
    ),
    Param("allow_insecure_key_size", type="boolean", default=False, description="tests only"),
    *LINK_PARAMS,
)


@dataclass(frozen=True)
class Settings:
    """One party's checked parameters (what it proposes; rank 0's are decided)."""

    field: int
    fxp_bits: int
    trunc_mode: TruncMode
    prg_crypto: PrgCryptoName
    batch_size: int
    num_epoch: int
    l2_norm: float
    learning_rate: float
    use_ttp: bool
    ttp_server_host: str
    ttp_ca_pem: str
    ttp_adjust_rank: int
    label_rank: int
    feature_nums: tuple[int, ...] | None
    skip_rows: int
    id_col: str
    label_col: str
    handshake: bool
    reveal_weights_to: RevealPolicy
    standardize: bool
    key_bits: int
    allow_insecure_key_size: bool


def _choice(p: Mapping[str, Any], name: str, allowed: Sequence[Any]) -> Any:
    value = p[name]
    if isinstance(value, str):
        value = value.strip().lower()
    if value not in allowed:
        raise ParameterError(name, f"{p[name]!r} is not supported (supported: {list(allowed)})")
    return value


def _feature_nums(text: str, parties: Sequence[str]) -> tuple[int, ...] | None:
    if not text.strip():
        return None
    try:
        document = json.loads(text)
    except ValueError:
        raise ParameterError("feature_nums", "not JSON ({party id: count})") from None
    if not isinstance(document, dict) or set(document) != set(parties):
        named = sorted(document) if isinstance(document, dict) else document
        raise ParameterError(
            "feature_nums", f"must name every party {list(parties)} exactly, not {named}"
        )
    counts = [document[party] for party in parties]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        raise ParameterError("feature_nums", "every count must be a non-negative integer")
    return tuple(counts)


def settings(p: Mapping[str, Any], parties: Sequence[str]) -> Settings:
    """The checked settings; ParameterError naming the first parameter at fault."""
    _choice(p, "protocol", PROTOCOLS)
    _choice(p, "shard_serialize_format", ("raw",))
    _choice(p, "optimizer", OPTIMIZERS)
    _choice(p, "sigmoid_mode", SIGMOID_MODES)
    _choice(p, "last_batch_policy", LAST_BATCH_POLICIES)
    for norm in ("l0_norm", "l1_norm"):
        if float(p[norm]) != 0.0:
            raise ParameterError(norm, "only 0 is supported (PPCA SS-LR defines L2 only)")
    field = int(_choice(p, "field", FIELDS))
    fxp_bits = int(p["fxp_bits"])
    if 2 * fxp_bits + 8 > field:
        raise ParameterError("fxp_bits", f"{fxp_bits} leaves no integer bits in ring 2^{field}")
    if not bool(p["use_ttp"]):
        try:
            check_key_bits(int(p["key_bits"]), allow_insecure=bool(p["allow_insecure_key_size"]))
        except KeySizeRefused as exc:
            raise ParameterError("key_bits", str(exc)) from None
    owner = str(p["label_owner"]).strip()
    if owner not in parties:
        raise ParameterError("label_owner", f"{owner!r} is not a party of the task {parties}")
    return Settings(
        field=field,
        fxp_bits=fxp_bits,
        trunc_mode=cast(TruncMode, _choice(p, "trunc_mode", TRUNC_MODES)),
        prg_crypto=PRG_CRYPTOS[_choice(p, "prg_crypto", tuple(PRG_CRYPTOS))],
        batch_size=int(p["batch_size"]),
        num_epoch=int(p["num_epoch"]),
        l2_norm=float(p["l2_norm"]),
        learning_rate=float(p["learning_rate"]),
        use_ttp=bool(p["use_ttp"]),
        ttp_server_host=str(p["ttp_server_host"]).strip(),
        ttp_ca_pem=_pem(p),
        ttp_adjust_rank=int(p["ttp_adjust_rank"]),
        label_rank=list(parties).index(owner),
        feature_nums=_feature_nums(str(p["feature_nums"]), parties),
        skip_rows=int(p["skip_rows"]),
        id_col=str(p["id_col"]),
        label_col=str(p["label_col"]),
        handshake=bool(p["handshake"]),
        reveal_weights_to=cast(RevealPolicy, _choice(p, "reveal_weights_to", REVEAL_POLICIES)),
        standardize=bool(p["standardize"]),
        key_bits=int(p["key_bits"]),
        allow_insecure_key_size=bool(p["allow_insecure_key_size"]),
    )


def _pem(p: Mapping[str, Any]) -> str:
    text = str(p.get("ttp_ca_pem") or "").strip()
    if text and "-----BEGIN CERTIFICATE-----" not in text:
        raise ParameterError("ttp_ca_pem", "not a PEM certificate")
    return text


def check_ttp(s: Settings, world_size: int) -> None:
    """The TTP settings make sense for ``world_size`` parties."""
    if s.use_ttp and not s.ttp_server_host:
        raise ParameterError("ttp_server_host", "use_ttp needs the Beaver service's host:port")
    if s.ttp_adjust_rank >= world_size:
        raise ParameterError(
            "ttp_adjust_rank", f"{s.ttp_adjust_rank} is not a rank of {world_size} parties"
        )
