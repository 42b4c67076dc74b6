"""The operator's collateral cache for BackgroundCheck reports: Intel DCAP collateral
and AMD VCEKs the operator downloaded beforehand, kept as files under
``<node home>/tee/collateral/``, so verification never goes to the internet.

Layout: ``intel/<SGX|TDX>-<processor|platform>-<FMSPC upper hex>.json`` (a
``DcapCollateral`` JSON, or the dcap-qvl collateral layout) and
``amd/<first 8 bytes of CHIP_ID, upper hex>-<REPORTED_TCB, 16 upper hex>.der`` (a VCEK).

**The guarantee:** every path is built with ``isthmus.wire.ids.inside``, from names this
module checked (a tee and CA from two fixed sets, FMSPC of six bytes), so no lookup or
addition reaches outside the root; files are written whole (temporary file, then
rename). The store only keeps collateral: whether it is genuine and current is decided
by the verifier that uses it, as for collateral inside a Passport.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final, Literal

from isthmus.crypto import der
from isthmus.wire.errors import InvalidKey, TeeMalformed
from isthmus.wire.ids import inside
from isthmus.wire.tee import DcapCollateral, parse_model, to_json

_TEES: Final = frozenset({"SGX", "TDX"})
_CAS: Final = frozenset({"processor", "platform"})
_FMSPC_BYTES: Final = 6
_MAX_FILE_BYTES: Final = 4 * 1024 * 1024

#: dcap-qvl's field names -> ours, for the copy-through fields.
_QVL_FIELDS: Final = {
    "pck_crl_issuer_chain": "pem_pck_crl_issuer_chain",
    "root_ca_crl": "str_root_ca_crl",
    "pck_crl": "str_pck_crl",
    "tcb_info_issuer_chain": "pem_tcb_info_issuer_chain",
    "qe_identity_issuer_chain": "pem_qe_identity_issuer_chain",
}


def _bad(key: str, why: str) -> TeeMalformed:
    return TeeMalformed(f"{key}: {why}", details={"key": key})


def _string(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _bad(key, "missing or not a string")
    return value


def from_dcap_qvl(obj: dict[str, Any]) -> DcapCollateral:
    """The dcap-qvl collateral layout (nine strings; ``tcb_info``/``qe_identity`` the
    signed JSON texts, their signatures hex) as a ``DcapCollateral``, whose
    ``str_tcb_info``/``str_qe_identity`` are PCS response bodies that embed the signed
    text byte for byte."""
    fields = {ours: _string(obj, theirs) for theirs, ours in _QVL_FIELDS.items()}
    tcb_signature = _string(obj, "tcb_info_signature")
    qe_signature = _string(obj, "qe_identity_signature")
    for key, value in (
        ("tcb_info_signature", tcb_signature),
        ("qe_identity_signature", qe_signature),
    ):
        if not value or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise _bad(key, "not hexadecimal")
    fields["str_tcb_info"] = (
        f'{{"tcbInfo":{_string(obj, "tcb_info")},"signature":"{tcb_signature}"}}'
    )
    fields["str_qe_identity"] = (
        f'{{"enclaveIdentity":{_string(obj, "qe_identity")},"signature":"{qe_signature}"}}'
    )
    return parse_model(DcapCollateral, "collateral", fields)


def load_intel_collateral(text: str | bytes) -> DcapCollateral:
    """A collateral file in either accepted layout."""
    try:
        obj = json.loads(text)
    except ValueError:
        raise _bad("collateral", "not JSON") from None
    if not isinstance(obj, dict):
        raise _bad("collateral", "must hold a JSON object")
    if "tcb_info" in obj:
        return from_dcap_qvl(obj)
    return parse_model(DcapCollateral, "collateral", obj)


def _intel_name(tee: str, ca: str, fmspc: str) -> str:
    if tee not in _TEES:
        raise _bad("tee", f"must be one of {sorted(_TEES)}")
    if ca not in _CAS:
        raise _bad("ca", f"must be one of {sorted(_CAS)}")
    try:
        raw = bytes.fromhex(fmspc)
    except ValueError:
        raise _bad("fmspc", "not hexadecimal") from None
    if len(raw) != _FMSPC_BYTES:
        raise _bad("fmspc", f"must be {_FMSPC_BYTES} bytes")
    return f"{tee}-{ca}-{raw.hex().upper()}.json"


def _amd_name(chip_id: bytes, reported_tcb: int) -> str:
    if len(chip_id) < 8:
        raise _bad("chip_id", "shorter than 8 bytes")
    if not 0 <= reported_tcb < 2**64:
        raise _bad("reported_tcb", "not a 64-bit value")
    return f"{chip_id[:8].hex().upper()}-{reported_tcb:016X}.der"


def _read(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(data) > _MAX_FILE_BYTES:
        raise _bad("collateral", f"{path.name} is over {_MAX_FILE_BYTES} bytes")
    return data


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


class DirectoryCollateral:
    """A ``CollateralSource`` over ``root`` (``<home>/tee/collateral``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def intel_path(self, *, tee: str, ca: str, fmspc: str) -> Path:
        return inside(self.root, "intel", _intel_name(tee, ca, fmspc))

    def amd_path(self, *, chip_id: bytes, reported_tcb: int) -> Path:
        return inside(self.root, "amd", _amd_name(chip_id, reported_tcb))

    def intel(
        self, *, tee: Literal["SGX", "TDX"], ca: Literal["processor", "platform"], fmspc: str
    ) -> DcapCollateral | None:
        data = _read(self.intel_path(tee=tee, ca=ca, fmspc=fmspc))
        return None if data is None else load_intel_collateral(data)

    def amd_endorsement(self, *, chip_id: bytes, reported_tcb: int) -> bytes | None:
        return _read(self.amd_path(chip_id=chip_id, reported_tcb=reported_tcb))

    def add_intel(self, collateral: DcapCollateral, *, tee: str, ca: str, fmspc: str) -> Path:
        """Store ``collateral`` (already parsed, e.g. by the intel helper's
        ``load_collateral_json``) under its key; replaces an older file."""
        path = self.intel_path(tee=tee, ca=ca, fmspc=fmspc)
        return _write(path, to_json(collateral).encode("utf-8"))

    def add_amd(self, certificate: bytes, *, chip_id: bytes, reported_tcb: int) -> Path:
        """Store a VCEK (DER, or PEM that is converted to DER) for a chip and TCB."""
        if certificate.lstrip().startswith(b"-----BEGIN"):
            try:
                label, certificate = der.pem_decode(certificate)
            except InvalidKey as exc:
                raise _bad("vcek", exc.message) from None
            if label != "CERTIFICATE":
                raise _bad("vcek", f"a {label} block, not a CERTIFICATE")
        try:
            der.decode_single(certificate, der.SEQUENCE)
        except (InvalidKey, ValueError, IndexError):
            raise _bad("vcek", "not a DER certificate") from None
        path = self.amd_path(chip_id=chip_id, reported_tcb=reported_tcb)
        return _write(path, certificate)
