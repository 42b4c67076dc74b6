"""The unified attestation data model (digest §6): UAR, attributes, policy, the
per-platform ``json_report`` bodies and the UAS request and reply.

Every key of the UAR family follows the naming rule ``<prefix>_<name>``, and the prefix
fixes what the (always string) value may hold:

* ``str``, ``bin``: any string;
* ``hex``: hexadecimal of whole bytes; lower case accepted, kept as upper case;
* ``b64``: standard base64 with padding, in its one canonical form;
* ``pem``: one or more PEM blocks whose bodies are base64;
* ``json``: a string holding a JSON document (bounded in size and depth);
* ``int``/``int64``/``uint``/``uint64``: a decimal integer within the type's range;
* ``bool``: ``"true"`` or ``"false"``.

An empty string is always allowed and means "absent" (in a policy: "any").

**The guarantee:** a model of this module either holds only values that obey their
key's prefix, or was never built: parsing raises ``TeeMalformed`` naming the key (also
for an unknown key that breaks the naming rule, and for a value of the wrong JSON type),
never a pydantic ``ValidationError`` and never anything else. Unknown well-named keys
are checked and then ignored, so a newer producer's extra attributes do not break us,
but a misspelt ``json_report`` cannot pass silently as an unknown key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from isthmus.wire.errors import IsthmusError, TeeMalformed, TeeReason, TeeRefused
from isthmus.wire.jsonbody import loads_bounded

__all__ = [
    "PREFIXES",
    "DcapCollateral",
    "DcapReport",
    "HygonCsvCertChain",
    "HygonCsvReport",
    "HyperEnclaveReport",
    "KunpengReport",
    "ReportType",
    "SgxEpidReport",
    "SimulatedReport",
    "SnpReport",
    "TeeModel",
    "TeePlatform",
    "TeeReason",
    "UasAttestationResult",
    "UasReport",
    "UasVerifyReply",
    "UasVerifyRequest",
    "UnifiedAttestationAttributes",
    "UnifiedAttestationAuthReport",
    "UnifiedAttestationNestedPolicy",
    "UnifiedAttestationNestedReports",
    "UnifiedAttestationNestedResults",
    "UnifiedAttestationPolicy",
    "UnifiedAttestationReport",
    "b64_bytes",
    "check_value",
    "parse_body",
    "parse_json_field",
    "parse_model",
    "parse_policy",
    "parse_uar",
    "to_json",
    "uar_json",
]

#: Largest UAR or policy document accepted (a DCAP passport with its CRLs is ~100 KiB).
MAX_DOCUMENT_BYTES: Final = 4 * 1024 * 1024
_MAX_DEPTH: Final = 16


class ReportType(StrEnum):
    BACKGROUND_CHECK = "BackgroundCheck"
    PASSPORT = "Passport"
    UAS = "Uas"


class TeePlatform(StrEnum):
    SGX_EPID = "SGX_EPID"
    SGX_DCAP = "SGX_DCAP"
    TDX = "TDX"
    HYPER_ENCLAVE = "HyperEnclave"
    CSV = "CSV"
    KUNPENG = "Kunpeng"
    UAS = "Uas"
    SEV_SNP = "SEV_SNP"  # Isthmus extension: UAL has no SEV-SNP
    SIMULATED = "Simulated"  # Isthmus extension, tests only


# --- the naming rule --------------------------------------------------------------------

_INT_RANGES: Final = {
    "int": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}
PREFIXES: Final = frozenset({"str", "hex", "b64", "pem", "json", "bool", "bin", *_INT_RANGES})
_KEY_RE: Final = re.compile(
    r"^(str|hex|b64|pem|json|int|int64|uint|uint64|bool|bin)_[A-Za-z0-9_]+$"
)
_HEX_RE: Final = re.compile(r"^(?:[0-9A-Fa-f]{2})*$")
_DEC_RE: Final = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_PEM_BLOCK_RE: Final = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END ([A-Z0-9 ]+)-----"
)
#: Keys of the model that are not values of the naming rule (they hold objects or lists,
#: or belong to the BFIA envelope of the UAS call).
_STRUCTURAL: Final = frozenset(
    {
        "main_attributes",
        "nested_policies",
        "sub_attributes",
        "nested_report_results",
        "report",
    }
)


def _bad(key: str, why: str) -> TeeMalformed:
    return TeeMalformed(f"{key}: {why}", details={"key": key})


def _check_pem(key: str, value: str) -> None:
    blocks = list(_PEM_BLOCK_RE.finditer(value))
    if not blocks:
        raise _bad(key, "not PEM armour")
    for block in blocks:
        label, body, end = block.groups()
        if label != end:
            raise _bad(key, "PEM BEGIN and END labels differ")
        try:
            base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _bad(key, "PEM body is not base64") from None
    leftover = _PEM_BLOCK_RE.sub("", value).strip("\r\n\x00 \t")
    if leftover:
        raise _bad(key, "text outside the PEM blocks")


def check_value(key: str, value: object) -> str:
    """``value`` checked against the rule of ``key``'s prefix, normalised (hex upper
    case); ``TeeMalformed`` naming ``key`` otherwise. An empty string always passes."""
    match = _KEY_RE.match(key)
    if match is None:
        raise _bad(key, "key breaks the naming rule <prefix>_<name>")
    if not isinstance(value, str):
        raise _bad(key, f"value must be a string, not {type(value).__name__}")
    if value == "":
        return value
    prefix = match.group(1)
    if prefix == "hex":
        if key == "hex_hash_or_pem_pubkey" and value.lstrip().startswith("-----BEGIN"):
            _check_pem(key, value)
            return value
        if _HEX_RE.match(value) is None:
            raise _bad(key, "not hexadecimal of whole bytes")
        return value.upper()
    if prefix == "b64":
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(key, "not standard base64") from None
        if base64.b64encode(raw).decode("ascii") != value:
            raise _bad(key, "not canonical base64 (padding or trailing bits)")
    elif prefix == "pem":
        _check_pem(key, value)
    elif prefix == "json":
        try:
            loads_bounded(value, max_bytes=MAX_DOCUMENT_BYTES, max_depth=_MAX_DEPTH)
        except IsthmusError:
            raise _bad(key, "not a JSON document within bounds") from None
        except UnicodeEncodeError:
            raise _bad(key, "not UTF-8") from None
    elif prefix == "bool":
        if value not in ("true", "false"):
            raise _bad(key, 'must be "true" or "false"')
    elif prefix in _INT_RANGES:
        low, high = _INT_RANGES[prefix]
        if _DEC_RE.match(value) is None or not low <= int(value) <= high:
            raise _bad(key, f"not a decimal {prefix} in [{low}, {high}]")
    return value


class _TeeModel(BaseModel):
    """The naming rule, enforced on every key of the object, declared or not."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="wrap")
    @classmethod
    def _naming_rule(cls, data: Any, handler: Any) -> Any:
        if isinstance(data, Mapping):
            checked: dict[str, Any] = {}
            for key, value in data.items():
                if not isinstance(key, str):
                    raise _bad(str(key), "key is not a string")
                if key in _STRUCTURAL and key in cls.model_fields:
                    checked[key] = value
                elif key in cls.model_fields or _KEY_RE.match(key) is not None:
                    checked[key] = check_value(key, value)
                else:
                    raise _bad(key, "key breaks the naming rule <prefix>_<name>")
            data = checked
        elif not isinstance(data, cls):
            raise _bad(cls.__name__, f"must be a JSON object, not {type(data).__name__}")
        try:
            return handler(data)
        except ValidationError as exc:
            raise _from_validation(cls.__name__, exc) from None


#: The base of every model that keeps the naming rule (public, for models of ``isthmus.tee``).
TeeModel = _TeeModel


class _PlainModel(BaseModel):
    """The UAS call's envelope: BFIA keys without prefixes, frozen, unknown keys ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="wrap")
    @classmethod
    def _as_malformed(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise _from_validation(cls.__name__, exc) from None


def b64_bytes(key: str, value: str) -> bytes:
    """The bytes of a ``b64_`` value. Parsed models have already checked it, so this
    refuses only a value that bypassed them, naming ``key`` like every other refusal."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(key, "not standard base64") from None


def _from_validation(where: str, exc: ValidationError) -> TeeMalformed:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid"}
    loc = [str(part) for part in first.get("loc", ()) if not isinstance(part, int)]
    key = loc[-1] if loc else where
    return _bad(key, str(first.get("msg", "invalid")))


# --- the report, its attributes, the policy -----------------------------------------------


class UnifiedAttestationReport(_TeeModel):
    """UAR: the one envelope every platform's evidence travels in."""

    str_report_version: str = "1.0"
    str_report_type: ReportType
    str_tee_platform: str
    json_report: str
    json_nested_reports: str = ""


class UnifiedAttestationAttributes(_TeeModel):
    """The one attribute set every platform maps onto; in a policy, "" = any."""

    str_tee_platform: str = ""
    hex_platform_hw_version: str = ""
    hex_platform_sw_version: str = ""
    hex_secure_flags: str = ""
    hex_platform_measurement: str = ""
    hex_boot_measurement: str = ""
    str_tee_identity: str = ""
    hex_ta_measurement: str = ""
    hex_ta_dyn_measurement: str = ""
    hex_signer: str = ""
    hex_prod_id: str = ""
    str_min_isvsvn: str = ""
    bool_debug_disabled: str = ""
    hex_user_data: str = ""
    hex_hash_or_pem_pubkey: str = ""
    hex_nonce: str = ""
    hex_spid: str = ""

    @field_validator("str_min_isvsvn")
    @classmethod
    def _isvsvn(cls, value: str) -> str:
        if value and _DEC_RE.match(value) is None:
            raise PydanticCustomError("isvsvn", "not a decimal integer")
        return value


class UnifiedAttestationNestedPolicy(_TeeModel):
    sub_attributes: list[UnifiedAttestationAttributes] = []


class UnifiedAttestationPolicy(_TeeModel):
    """UAP. ``pem_public_Key`` keeps the spec's spelling (capital K)."""

    pem_public_Key: str = ""  # noqa: N815 - the spec's key, byte for byte
    main_attributes: list[UnifiedAttestationAttributes] = []
    nested_policies: list[UnifiedAttestationNestedPolicy] = []


class UnifiedAttestationNestedReports(_TeeModel):
    json_nested_results: str
    b64_nested_signature: str


class UnifiedAttestationNestedResults(_TeeModel):
    nested_report_results: list[UnifiedAttestationAttributes] = []


class UnifiedAttestationAuthReport(_TeeModel):
    report: UnifiedAttestationReport
    pem_public_key: str


# --- json_report bodies, by platform ------------------------------------------------------


class DcapCollateral(_TeeModel):
    """SGX_DCAP / TDX collateral. ``str_tcb_info``/``str_qe_identity`` are Intel PCS
    response bodies verbatim (their signatures cover the inner value's exact bytes);
    the CRLs are hex of DER (PEM and base64 DER accepted on input)."""

    int64_version: str = "3"
    pem_pck_crl_issuer_chain: str
    str_root_ca_crl: str
    str_pck_crl: str
    pem_tcb_info_issuer_chain: str
    str_tcb_info: str
    pem_qe_identity_issuer_chain: str
    str_qe_identity: str


class DcapReport(_TeeModel):
    b64_quote: str
    json_collateral: str = ""


class SnpReport(_TeeModel):
    """SEV_SNP (Isthmus extension): the 1184-byte report; VCEK or VLEK [+ ASK/ASVK]."""

    b64_quote: str
    pem_cert_chain: str = ""


class HygonCsvCertChain(_TeeModel):
    b64_hsk_cert: str
    b64_cek_cert: str


class HygonCsvReport(_TeeModel):
    b64_quote: str
    json_cert_chain: str = ""
    str_chip_id: str = ""


class HyperEnclaveReport(_TeeModel):
    b64_quote: str


class KunpengReport(_TeeModel):
    b64_quote: str
    int64_version: str = ""


class SgxEpidReport(_TeeModel):
    b64_quote: str = ""
    b64_signature: str = ""
    str_signing_cert: str = ""
    str_advisory_url: str = ""
    str_advisory_ids: str = ""
    str_response_body: str = ""


class SimulatedReport(_TeeModel):
    """Simulated (Isthmus extension, tests only): claims signed by a test vendor key."""

    json_claims: str
    b64_signature: str


class UasReport(_TeeModel):
    str_uas_result: str
    b64_signature: str


class UasAttestationResult(_TeeModel):
    int64_result_code: str
    str_tee_platform: str
    hex_nonce: str = ""
    b64_quote: str = ""
    json_attributes: str = ""  # Isthmus extension: the verified attribute set


# --- the UAS call -----------------------------------------------------------------------


class UasVerifyRequest(_PlainModel):
    """``POST /v1/interconn/tee/uas/verify``; ``report`` as an object or a JSON string."""

    biz_id: str = ""
    access_key: str
    access_secret: str
    nonce: str = ""
    report: UnifiedAttestationReport

    @field_validator("report", mode="before")
    @classmethod
    def _report_from_string(cls, value: Any) -> Any:
        if isinstance(value, str | bytes):
            return _load_object("report", value)
        return value


class UasVerifyReply(_PlainModel):
    result_code: str
    result_msg: str
    attestation_result: UnifiedAttestationReport | None = None


# --- parsing and output -----------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)

_BODIES: Final[Mapping[str, type[_TeeModel]]] = {
    TeePlatform.SGX_DCAP: DcapReport,
    TeePlatform.TDX: DcapReport,
    TeePlatform.SEV_SNP: SnpReport,
    TeePlatform.CSV: HygonCsvReport,
    TeePlatform.HYPER_ENCLAVE: HyperEnclaveReport,
    TeePlatform.KUNPENG: KunpengReport,
    TeePlatform.SGX_EPID: SgxEpidReport,
    TeePlatform.SIMULATED: SimulatedReport,
    TeePlatform.UAS: UasReport,
}

Body = (
    DcapReport
    | SnpReport
    | HygonCsvReport
    | HyperEnclaveReport
    | KunpengReport
    | SgxEpidReport
    | SimulatedReport
    | UasReport
)


def _load_object(key: str, data: str | bytes) -> dict[str, Any]:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not raw.strip():
        raise _bad(key, "empty")
    try:
        value = loads_bounded(raw, max_bytes=MAX_DOCUMENT_BYTES, max_depth=_MAX_DEPTH, what=key)
    except IsthmusError as exc:
        raise _bad(key, f"not a JSON document within bounds: {exc.message}") from None
    except (UnicodeDecodeError, ValueError):
        raise _bad(key, "not a JSON document") from None
    if not isinstance(value, dict):
        raise _bad(key, "must hold a JSON object")
    return value


def parse_model(model: type[M], key: str, data: str | bytes | Mapping[str, Any]) -> M:
    """``model`` from a JSON text or an already decoded object; ``TeeMalformed`` naming
    the offending key (``key`` itself when the document is not a JSON object)."""
    value: Any = data if isinstance(data, Mapping) else _load_object(key, data)
    try:
        return model.model_validate(value)
    except ValidationError as exc:  # only for models outside this module's bases
        raise _from_validation(key, exc) from None


def parse_uar(data: str | bytes | Mapping[str, Any]) -> UnifiedAttestationReport:
    return parse_model(UnifiedAttestationReport, "report", data)


def parse_policy(data: str | bytes | Mapping[str, Any]) -> UnifiedAttestationPolicy:
    return parse_model(UnifiedAttestationPolicy, "policy", data)


def parse_json_field(model: type[M], key: str, text: str) -> M:
    """The object a ``json_`` field holds (``key`` names it in any error)."""
    return parse_model(model, key, text)


def parse_body(report: UnifiedAttestationReport) -> Body:
    """``json_report`` as its platform's body model; an unknown platform is refused
    (``unsupported_platform``), a body of the wrong shape is ``TeeMalformed``."""
    model = _BODIES.get(report.str_tee_platform)
    if model is None:
        raise TeeRefused(
            f"unknown TEE platform {report.str_tee_platform[:40]!r}",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
            details={"platform": report.str_tee_platform[:40]},
        )
    return cast(Body, parse_json_field(model, "json_report", report.json_report))


def to_json(model: BaseModel) -> str:
    """Canonical output: keys in declared order, nothing excluded, compact."""
    return json.dumps(model.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


def uar_json(report: UnifiedAttestationReport) -> str:
    return to_json(report)
