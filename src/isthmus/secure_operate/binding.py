"""From a request to a plan: the checks made alone, and the ones made with the partners.

``check`` refuses, before anything is held, what this party can see is wrong: an unknown
protocol, expression or dtype, this node not ``localPartyId`` or not a party, a result
party that is not a party, an input that does not decode or names no argument.

Then every party tells every other (``announcement``, one JSON document each, exchanged
with ``all_gather`` on the task's link) what it agreed to (expression, parties, result
parties, protocol parameters) and the name, dtype and shape of each of its inputs.
``bind`` reads the same list on every party and so reaches the **same** verdict
everywhere: the owner and shape of each argument and the result's shape, or the same
refusal (parties disagree: BAD_PARAMETER; an argument missing or given twice: BAD_INPUT;
shapes that do not fit: SHAPE_MISMATCH). No share moves before that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from isthmus.secure_operate.expressions import Shape, Spec, lookup
from isthmus.wire.errors import SecopCode, SecopInvalid
from isthmus.wire.secure_operate import DIRECT, FILE, SEMI2K, ExecuteRequest, element_count

#: Fraction bits when the request names none (SPU's default for FM64 and FM128).
DEFAULT_FXP_BITS = {64: 18, 128: 26}


@dataclass(frozen=True)
class Params:
    """``mpcProtocol.param``, read: the ring, fixed point, truncation and triples."""

    field: int = 64
    fxp_bits: int = 18
    trunc_mode: str = "probabilistic"
    use_ttp: bool = False
    ttp_server_host: str = ""
    #: PEM CA certificate of the Beaver service: TLS to it when given (else plaintext).
    ttp_ca_pem: str = ""
    #: Paillier key size of the dealer-free triples (below 2048 only when asked for).
    he_key_bits: int = 2048
    #: The task's session (the Beaver service's session id with ``use_ttp``).
    session: str = ""


@dataclass(frozen=True)
class Binding:
    owners: dict[str, int]
    shapes: dict[str, Shape]
    result_shape: Shape


def _field(value: Any) -> int:
    text = str(value).upper().removeprefix("FM").removeprefix("FIELD_")
    if text not in ("64", "128"):
        raise SecopInvalid(f"param field {str(value)[:20]!r}: 64 or 128")
    return int(text)


def params_of(request: ExecuteRequest) -> Params:
    raw = request.mpc_protocol.param
    try:
        field = _field(raw.get("field", 64))
        fxp = int(raw.get("fxp_bits", raw.get("fxp_fraction_bits", DEFAULT_FXP_BITS[field])))
        trunc = str(raw.get("trunc_mode", "probabilistic")).lower()
        use_ttp = str(raw.get("use_ttp", "false")).lower() in ("1", "true", "yes")
    except (TypeError, ValueError) as exc:
        raise SecopInvalid(f"mpcProtocol.param: {exc}") from None
    if not 1 <= fxp <= field // 2 - 8:
        raise SecopInvalid(f"param fxp_bits {fxp}: 1 to {field // 2 - 8} for field {field}")
    if trunc not in ("probabilistic", "precise"):
        raise SecopInvalid(f"param trunc_mode {trunc[:20]!r}: probabilistic or precise")
    host = str(raw.get("ttp_server_host", ""))
    if use_ttp and not host:
        raise SecopInvalid("param use_ttp needs ttp_server_host")
    ca_pem = str(raw.get("ttp_ca_pem") or "").strip()
    if ca_pem and "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise SecopInvalid("param ttp_ca_pem: a PEM certificate")
    try:
        key_bits = int(raw.get("he_key_bits", 2048))
    except (TypeError, ValueError):
        raise SecopInvalid("param he_key_bits: an integer") from None
    if key_bits not in (1024, 2048, 3072, 4096):
        raise SecopInvalid(f"param he_key_bits {key_bits}: 1024 (tests only), 2048, 3072, 4096")
    return Params(field, fxp, trunc, use_ttp, host, ca_pem, key_bits)


def check(request: ExecuteRequest, node_id: str, specs: dict[str, Spec]) -> Spec:
    """Everything this party can refuse alone; the expression's spec if all is well."""
    protocol = request.mpc_protocol.protocol_code.strip().lower()
    if protocol != SEMI2K:
        raise SecopInvalid(
            f"protocol {request.mpc_protocol.protocol_code[:40]!r}: only {SEMI2K}",
            SecopCode.UNKNOWN_PROTOCOL,
        )
    spec = lookup(request.expression, specs)
    if len(set(request.parties)) != len(request.parties) or len(request.parties) < 2:
        raise SecopInvalid(f"parties {request.parties}: two or more, each once")
    if request.local_party_id not in request.parties:
        raise SecopInvalid(
            f"localPartyId {request.local_party_id} is not one of parties {request.parties}",
            SecopCode.NOT_A_PARTY,
        )
    if request.local_party_id != node_id:
        raise SecopInvalid(
            f"localPartyId {request.local_party_id} is not this node ({node_id})",
            SecopCode.NOT_A_PARTY,
        )
    strangers = [p for p in request.result_parties if p not in request.parties]
    if strangers:
        raise SecopInvalid(
            f"result parties {strangers} are not parties", SecopCode.RESULT_PARTY_NOT_A_PARTY
        )
    params_of(request)
    names = [value.data_value_tag.name for value in request.inputs]
    unknown = [n for n in names if n not in spec.inputs]
    if unknown or len(set(names)) != len(names):
        raise SecopInvalid(
            f"inputs {names}: each once, among {list(spec.inputs)} for {spec.name}",
            SecopCode.BAD_INPUT,
        )
    for value in request.inputs:
        tag = value.data_value_tag
        element_count(tag.shape)
        if tag.type not in (DIRECT, FILE):
            raise SecopInvalid(f"input {tag.name}: storage {tag.type[:40]!r}: {DIRECT} or {FILE}")
        if tag.type == DIRECT and value.direct_value is None:
            raise SecopInvalid(f"input {tag.name}: no directValue", SecopCode.BAD_INPUT)
    if len(request.output_method) > 1:
        raise SecopInvalid(f"{spec.name} has one output; outputMethod names more")
    for tag in request.output_method:
        if tag.type not in (DIRECT, FILE):
            raise SecopInvalid(f"output {tag.name}: storage {tag.type[:40]!r}: {DIRECT} or {FILE}")
    return spec


def result_parties(request: ExecuteRequest) -> list[str]:
    """Who learns the result: ``resultParties``, or every party when it is empty."""
    return list(request.result_parties) or list(request.parties)


def announcement(request: ExecuteRequest) -> bytes:
    agreed = {
        "expression": request.expression.strip().lower(),
        "parties": list(request.parties),
        "resultParties": result_parties(request),
        "param": params_of(request).__dict__,
    }
    inputs = [
        {"name": v.data_value_tag.name, "dtype": v.data_value_tag.dtype,
         "shape": list(v.data_value_tag.shape)}
        for v in request.inputs
    ]  # fmt: skip
    return json.dumps({"agreed": agreed, "inputs": inputs}, sort_keys=True).encode()


def bind(spec: Spec, announcements: list[bytes]) -> Binding:
    """The same verdict on every party from the same list of announcements."""
    try:
        documents = [json.loads(a) for a in announcements]
    except ValueError:
        raise SecopInvalid("a party announced something that is not JSON") from None
    first = documents[0]["agreed"]
    for rank, document in enumerate(documents):
        if document["agreed"] != first:
            differ = sorted(k for k in first if document["agreed"].get(k) != first[k])
            raise SecopInvalid(f"party of rank {rank} disagrees on {differ}")
    owners: dict[str, int] = {}
    shapes: dict[str, Shape] = {}
    for rank, document in enumerate(documents):
        for item in document["inputs"]:
            name = str(item["name"])
            if name in owners or name not in spec.inputs:
                raise SecopInvalid(
                    f"input {name!r} given twice or not an argument of {spec.name}",
                    SecopCode.BAD_INPUT,
                )
            owners[name] = rank
            shapes[name] = tuple(int(d) for d in item["shape"])
    missing = [n for n in spec.inputs if n not in owners]
    if missing:
        raise SecopInvalid(f"no party gave input {missing} of {spec.name}", SecopCode.BAD_INPUT)
    result = spec.result_shape([shapes[n] for n in spec.inputs])
    return Binding(owners, shapes, result)
