"""TCB info and QE identity documents: their fields, and the status they give a platform.

The documents are parsed from the exact bytes whose signature was checked (never a
re-serialisation) into frozen records. Evaluation follows Intel's rules as the
tee-vectors README states them: the first TCB level (in document order) whose 16 SGX
component SVNs and PCESVN are all at or below the PCK certificate's - and for TDX whose
``tdxtcbcomponents`` are at or below TEE_TCB_SVN - gives the status; then for TDX, when
TEE_TCB_SVN[1] > 0, the module identity ``TDX_0<n>`` is applied. No matching level is
``tcb_not_supported``, never mapped to an out-of-date status. Any shape error in a
document raises :class:`TeeMalformed` naming the document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import TeeReason

UP_TO_DATE = "UpToDate"
_STATUSES = frozenset(
    {
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
        "Revoked",
    }
)


def _bad(doc: str, message: str) -> TeeMalformed:
    return TeeMalformed(f"{doc}: {message}", details={"reason": TeeReason.MALFORMED, "field": doc})


def _field(doc: str, obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _bad(doc, f"field {key!r} is missing or not a {kind}")
    return value


def _hex(doc: str, obj: Mapping[str, Any], key: str, size: int) -> bytes:
    text = _field(doc, obj, key, str)
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise _bad(doc, f"field {key!r} is not hex") from None
    if len(value) != size:
        raise _bad(doc, f"field {key!r} must be {size} bytes")
    return value


def _time(doc: str, obj: Mapping[str, Any], key: str) -> datetime:
    text = _field(doc, obj, key, str)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(doc, f"field {key!r} is not a time") from None
    if value.tzinfo is None:
        raise _bad(doc, f"field {key!r} has no time zone")
    return value.astimezone(UTC)


def _status(doc: str, level: Mapping[str, Any]) -> str:
    status = _field(doc, level, "tcbStatus", str)
    if status not in _STATUSES:
        raise _bad(doc, f"unknown tcbStatus {status!r}")
    return str(status)


def _advisories(doc: str, level: Mapping[str, Any]) -> tuple[str, ...]:
    ids = level.get("advisoryIDs", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _bad(doc, "advisoryIDs is not a list of strings")
    return tuple(ids)


def _svn(doc: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
        raise _bad(doc, "an SVN is not an integer in range")
    return value


@dataclass(frozen=True)
class TcbLevel:
    sgx: tuple[int, ...]  # 16
    pce_svn: int
    tdx: tuple[int, ...] | None  # 16 for TDX
    status: str
    advisories: tuple[str, ...]


@dataclass(frozen=True)
class ModuleLevel:
    isv_svn: int
    status: str
    advisories: tuple[str, ...]


@dataclass(frozen=True)
class ModuleIdentity:
    mr_signer: bytes
    attributes: bytes
    attributes_mask: bytes
    levels: tuple[ModuleLevel, ...]


@dataclass(frozen=True)
class TcbInfo:
    tee: str  # "SGX" | "TDX"
    fmspc: bytes
    pce_id: bytes
    issue_date: datetime
    next_update: datetime
    levels: tuple[TcbLevel, ...]
    module: ModuleIdentity | None  # tdxModule (used when TEE_TCB_SVN[1] == 0)
    module_identities: Mapping[str, ModuleIdentity]


@dataclass(frozen=True)
class QeIdentity:
    id: str  # "QE" | "TD_QE"
    issue_date: datetime
    next_update: datetime
    misc_select: int
    misc_select_mask: int
    attributes: bytes
    attributes_mask: bytes
    mr_signer: bytes
    isv_prod_id: int
    levels: tuple[ModuleLevel, ...]


_SVN_KEYS = ("svn",) * 16


def _components(doc: str, tcb: Mapping[str, Any], key: str) -> tuple[int, ...]:
    comps = _field(doc, tcb, key, list)
    if len(comps) != 16 or set(map(type, comps)) != {dict}:
        raise _bad(doc, f"{key} must list 16 components")
    svns: tuple[Any, ...] = tuple(map(dict.get, comps, _SVN_KEYS))
    # exact int (no bool, no None), all within 0..0xFFFF: the checks of _svn, done in C
    if set(map(type, svns)) != {int} or min(svns) < 0 or max(svns) > 0xFFFF:
        raise _bad(doc, "an SVN is not an integer in range")
    return svns


def _level(doc: str, raw: Any, tdx: bool) -> TcbLevel:
    if type(raw) is not dict:
        raise _bad(doc, "a TCB level is not an object")
    tcb = raw.get("tcb")
    if type(tcb) is not dict:
        tcb = _field(doc, raw, "tcb", dict)  # raises, naming the field
    if "sgxtcbcomponents" in tcb:
        sgx = _components(doc, tcb, "sgxtcbcomponents")
    else:  # TCB info v2 layout
        sgx = tuple(_svn(doc, tcb.get(f"sgxtcbcomp{i:02d}svn")) for i in range(1, 17))
    tdx_comps = _components(doc, tcb, "tdxtcbcomponents") if tdx else None
    status = raw.get("tcbStatus")
    if type(status) is not str or status not in _STATUSES:
        status = _status(doc, raw)  # raises, naming the value
    ids = raw.get("advisoryIDs", [])
    if type(ids) is list and (not ids or set(map(type, ids)) == {str}):
        advisories: tuple[str, ...] = tuple(ids)
    else:
        advisories = _advisories(doc, raw)  # raises
    pce_svn = tcb.get("pcesvn")
    if type(pce_svn) is not int or not 0 <= pce_svn <= 0xFFFF:
        pce_svn = _svn(doc, pce_svn)  # raises
    return TcbLevel(sgx, pce_svn, tdx_comps, status, advisories)


def _module_levels(doc: str, raws: Any) -> tuple[ModuleLevel, ...]:
    if not isinstance(raws, list):
        raise _bad(doc, "tcbLevels is not a list")
    out = []
    for raw in raws:
        if not isinstance(raw, dict):
            raise _bad(doc, "a TCB level is not an object")
        tcb = _field(doc, raw, "tcb", dict)
        out.append(
            ModuleLevel(_svn(doc, tcb.get("isvsvn")), _status(doc, raw), _advisories(doc, raw))
        )
    return tuple(out)


def _module(doc: str, raw: Any, with_levels: bool) -> ModuleIdentity:
    if not isinstance(raw, dict):
        raise _bad(doc, "a TDX module entry is not an object")
    return ModuleIdentity(
        _hex(doc, raw, "mrsigner", 48),
        _hex(doc, raw, "attributes", 8),
        _hex(doc, raw, "attributesMask", 8),
        _module_levels(doc, raw.get("tcbLevels")) if with_levels else (),
    )


def _object(doc: str, text: bytes) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise _bad(doc, "not JSON") from None
    if not isinstance(value, dict):
        raise _bad(doc, "not a JSON object")
    return value


def parse_tcb_info(text: bytes | dict[str, Any]) -> TcbInfo:
    """From the signed bytes, or from their already-decoded object (the parse of exactly
    those bytes, as :func:`..collateral.signed_value` returns it)."""
    doc = "tcb_info"
    obj = text if isinstance(text, dict) else _object(doc, text)
    tee = _field(doc, obj, "id", str) if "id" in obj else "SGX"
    if tee not in ("SGX", "TDX"):
        raise _bad(doc, f"id {tee!r} is not SGX or TDX")
    version = _field(doc, obj, "version", int)
    if version not in (2, 3):
        raise TeeRefused(
            f"TCB info version {version} is not 2 or 3",
            reason=TeeReason.UNSUPPORTED_VERSION,
            details={"version": version},
        )
    tdx = tee == "TDX"
    levels = tuple(_level(doc, raw, tdx) for raw in _field(doc, obj, "tcbLevels", list))
    identities: dict[str, ModuleIdentity] = {}
    module = None
    if tdx:
        module = _module(doc, _field(doc, obj, "tdxModule", dict), with_levels=False)
        for raw in obj.get("tdxModuleIdentities", []) or []:
            if not isinstance(raw, dict):
                raise _bad(doc, "a tdxModuleIdentities entry is not an object")
            identities[str(_field(doc, raw, "id", str))] = _module(doc, raw, with_levels=True)
    return TcbInfo(
        tee=str(tee),
        fmspc=_hex(doc, obj, "fmspc", 6),
        pce_id=_hex(doc, obj, "pceId", 2),
        issue_date=_time(doc, obj, "issueDate"),
        next_update=_time(doc, obj, "nextUpdate"),
        levels=levels,
        module=module,
        module_identities=identities,
    )


def parse_qe_identity(text: bytes | dict[str, Any]) -> QeIdentity:
    doc = "qe_identity"
    obj = text if isinstance(text, dict) else _object(doc, text)
    qe_id = _field(doc, obj, "id", str)
    if qe_id not in ("QE", "TD_QE"):
        raise _bad(doc, f"id {qe_id!r} is not QE or TD_QE")
    version = _field(doc, obj, "version", int)
    if version != 2:
        raise TeeRefused(
            f"QE identity version {version} is not 2",
            reason=TeeReason.UNSUPPORTED_VERSION,
            details={"version": version},
        )
    return QeIdentity(
        id=str(qe_id),
        issue_date=_time(doc, obj, "issueDate"),
        next_update=_time(doc, obj, "nextUpdate"),
        misc_select=int.from_bytes(_hex(doc, obj, "miscselect", 4), "big"),
        misc_select_mask=int.from_bytes(_hex(doc, obj, "miscselectMask", 4), "big"),
        attributes=_hex(doc, obj, "attributes", 16),
        attributes_mask=_hex(doc, obj, "attributesMask", 16),
        mr_signer=_hex(doc, obj, "mrsigner", 32),
        isv_prod_id=_svn(doc, obj.get("isvprodid")),
        levels=_module_levels(doc, obj.get("tcbLevels")),
    )


# --- evaluation -------------------------------------------------------------------


@dataclass(frozen=True)
class TcbResult:
    status: str
    advisories: tuple[str, ...]
    module_id: str = ""  # "TDX_01" when a module identity was applied


def _not_supported(message: str, **details: object) -> TeeRefused:
    return TeeRefused(message, reason=TeeReason.TCB_NOT_SUPPORTED, details=dict(details))


def _masked_equal(value: bytes, expected: bytes, mask: bytes) -> bool:
    return all((v & m) == (e & m) for v, e, m in zip(value, expected, mask, strict=True))


def _merge(platform: str, other: str) -> str:
    """A component that is out of date or revoked drags the platform status with it,
    keeping the platform's configuration flag (Intel's convergence rule)."""
    if other == "Revoked" or platform == "Revoked":
        return "Revoked"
    if other.startswith("OutOfDate") and not platform.startswith("OutOfDate"):
        return "OutOfDateConfigurationNeeded" if "Configuration" in platform else "OutOfDate"
    return platform


def merge_status(platform: str, other: str) -> str:
    return _merge(platform, other)


def _first_level(levels: Sequence[ModuleLevel], isv_svn: int) -> ModuleLevel | None:
    return next((lvl for lvl in levels if lvl.isv_svn <= isv_svn), None)


def evaluate_platform(
    info: TcbInfo,
    sgx_svns: Sequence[int],
    pce_svn: int,
    tee_tcb_svn: bytes | None,
    mr_signer_seam: bytes | None = None,
    seam_attributes: bytes | None = None,
) -> TcbResult:
    """The status of a platform with the PCK's SVNs (and a TD's TEE_TCB_SVN)."""
    match = None
    for level in info.levels:
        if any(have < need for have, need in zip(sgx_svns, level.sgx, strict=True)):
            continue
        if pce_svn < level.pce_svn:
            continue
        if tee_tcb_svn is not None:
            if level.tdx is None:
                continue
            if any(have < need for have, need in zip(tee_tcb_svn, level.tdx, strict=True)):
                continue
        match = level
        break
    if match is None:
        raise _not_supported(
            "no TCB level of the TCB info matches this platform: TCB level not supported",
            fmspc=info.fmspc.hex().upper(),
        )
    if tee_tcb_svn is None or mr_signer_seam is None or seam_attributes is None:
        return TcbResult(match.status, match.advisories)
    return _apply_module(info, match, tee_tcb_svn, mr_signer_seam, seam_attributes)


def _apply_module(
    info: TcbInfo,
    match: TcbLevel,
    tee_tcb_svn: bytes,
    mr_signer_seam: bytes,
    seam_attributes: bytes,
) -> TcbResult:
    if tee_tcb_svn[1] == 0:
        module = info.module
        if module is not None and not (
            mr_signer_seam == module.mr_signer
            and _masked_equal(seam_attributes, module.attributes, module.attributes_mask)
        ):
            raise TeeRefused(
                "MRSIGNERSEAM or SEAMATTRIBUTES differ from the tdxModule entry",
                reason=TeeReason.TCB_MISMATCH,
            )
        return TcbResult(match.status, match.advisories)
    module_id = f"TDX_{tee_tcb_svn[1]:02d}"
    identity = info.module_identities.get(module_id)
    if identity is None:
        raise _not_supported(
            f"the TCB info has no TDX module identity {module_id}", module_id=module_id
        )
    if mr_signer_seam != identity.mr_signer or not _masked_equal(
        seam_attributes, identity.attributes, identity.attributes_mask
    ):
        raise TeeRefused(
            f"MRSIGNERSEAM or SEAMATTRIBUTES differ from {module_id}",
            reason=TeeReason.TCB_MISMATCH,
            details={"module_id": module_id},
        )
    level = _first_level(identity.levels, tee_tcb_svn[0])
    if level is None:
        raise _not_supported(
            f"no {module_id} level matches module SVN {tee_tcb_svn[0]}", module_id=module_id
        )
    return TcbResult(
        _merge(match.status, level.status), _union(match.advisories, level.advisories), module_id
    )


def _union(a: Sequence[str], b: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*a, *b]))


def evaluate_qe(
    identity: QeIdentity,
    qe_report_misc: int,
    qe_attributes: bytes,
    qe_mr_signer: bytes,
    qe_prod_id: int,
    qe_isv_svn: int,
) -> ModuleLevel:
    """The QE's level in its identity document; a QE that is not Intel's is refused."""
    if qe_mr_signer != identity.mr_signer or qe_prod_id != identity.isv_prod_id:
        raise TeeRefused(
            f"the quoting enclave is not Intel's {identity.id}",
            reason=TeeReason.QE_IDENTITY_MISMATCH,
            details={"attribute": "mrsigner/isvprodid"},
        )
    if (qe_report_misc & identity.misc_select_mask) != (
        identity.misc_select & identity.misc_select_mask
    ) or not _masked_equal(qe_attributes, identity.attributes, identity.attributes_mask):
        raise TeeRefused(
            f"the quoting enclave's MISCSELECT/ATTRIBUTES differ from {identity.id}",
            reason=TeeReason.QE_IDENTITY_MISMATCH,
            details={"attribute": "miscselect/attributes"},
        )
    level = _first_level(identity.levels, qe_isv_svn)
    if level is None:  # older than every listed level: out of date, judged by accept_tcb
        return ModuleLevel(qe_isv_svn, "OutOfDate", ())
    return level
