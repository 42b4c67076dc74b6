"""The UAI calls (digest §6) as Python functions: generate a UAR on this machine's TEE,
wrap evidence produced elsewhere into a UAR, and verify one against a policy.

Generation is the only part of ``isthmus.tee`` that touches hardware, through a
``Device`` back-end (``isthmus.tee.devices``: configfs-tsm, ``/dev/tdx_guest``,
``/dev/sev-guest``, Gramine; or ``SimulatedDevice`` in tests). The report data a device
is asked to sign is always built by ``binding.report_data``, so every back-end binds
the nonce and the public key the same way.

**The guarantee:** a generated or wrapped UAR parses back with ``parse_uar`` and its
body with ``parse_body`` (every value keeps the naming rule); inputs that cannot
(a nonce over 32 bytes, an unknown report type) are ``TeeMalformed`` before any device
is asked anything.
"""

from __future__ import annotations

import base64
import importlib
from typing import Any, Final, Protocol

from isthmus.tee.binding import report_data
from isthmus.tee.simulated import body_from_evidence
from isthmus.tee.verify import unified_attestation_verify_report
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    DcapCollateral,
    DcapReport,
    HygonCsvReport,
    HyperEnclaveReport,
    KunpengReport,
    ReportType,
    SgxEpidReport,
    SnpReport,
    TeeModel,
    TeePlatform,
    TeeReason,
    UnifiedAttestationNestedReports,
    UnifiedAttestationReport,
    check_value,
    parse_json_field,
    to_json,
)

__all__ = [
    "Device",
    "ReportParams",
    "detect_device",
    "unified_attestation_generate_report",
    "unified_attestation_verify_report",
    "wrap_evidence",
]

_SNP_REPORT_SIZE: Final = 0x4A0
_QUOTE_BODIES: Final[dict[str, type[TeeModel]]] = {
    TeePlatform.CSV: HygonCsvReport,
    TeePlatform.HYPER_ENCLAVE: HyperEnclaveReport,
    TeePlatform.KUNPENG: KunpengReport,
    TeePlatform.SGX_EPID: SgxEpidReport,
}


class ReportParams(TeeModel):
    """UAI ``report_params``: ``hex_user_data`` (at most 32 bytes here: the other 32
    hold the key hash), ``json_nested_report`` (a ``UnifiedAttestationNestedReports``)."""

    str_report_identity: str = ""
    hex_user_data: str = ""
    json_nested_report: str = ""
    hex_spid: str = ""


class Device(Protocol):
    """A TEE generation back-end: raw evidence over 64 bytes of report data, and any
    extra ``json_report`` fields it needs (a certificate chain, collateral)."""

    platform: str

    def evidence(self, report_data: bytes) -> tuple[bytes, dict[str, str]]: ...


def detect_device() -> Device:
    """This machine's TEE device, found by ``isthmus.tee.devices.detect``; refused with
    ``unsupported_platform`` when there is none (or no back-end is installed)."""
    try:
        devices: Any = importlib.import_module("isthmus.tee.devices")
    except ImportError:
        raise TeeRefused(
            "no TEE device back-ends are installed (isthmus.tee.devices)",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
        ) from None
    device: Device = devices.detect()
    return device


def _bytes_field(key: str, value: str) -> bytes:
    return bytes.fromhex(check_value(key, value))


def _snp_bytes(evidence: bytes) -> bytes:
    text = evidence.strip()
    if len(text) == 2 * _SNP_REPORT_SIZE:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return evidence
    return evidence


def wrap_evidence(
    platform: str,
    evidence: bytes,
    *,
    collateral: DcapCollateral | None = None,
    cert_chain_pem: str = "",
    report_type: str | None = None,
    extra: dict[str, str] | None = None,
) -> UnifiedAttestationReport:
    """A UAR around raw evidence: Passport when it carries what verification needs
    (DCAP collateral, an SNP certificate chain, Simulated), else BackgroundCheck."""
    fields: dict[str, str] = dict(extra or {})
    b64 = base64.b64encode(evidence).decode("ascii")
    self_contained = False
    body: TeeModel
    if platform in (TeePlatform.SGX_DCAP, TeePlatform.TDX):
        if collateral is not None:
            fields["json_collateral"] = to_json(collateral)
        body = DcapReport.model_validate({"b64_quote": b64, **fields})
        self_contained = bool(body.json_collateral)
    elif platform == TeePlatform.SEV_SNP:
        snp = base64.b64encode(_snp_bytes(evidence)).decode("ascii")
        if cert_chain_pem:
            fields["pem_cert_chain"] = cert_chain_pem
        body = SnpReport.model_validate({"b64_quote": snp, **fields})
        self_contained = bool(body.pem_cert_chain)
    elif platform == TeePlatform.SIMULATED:
        body = body_from_evidence(evidence)
        self_contained = True
    elif platform in _QUOTE_BODIES:
        body = _QUOTE_BODIES[platform].model_validate({"b64_quote": b64, **fields})
    else:
        raise TeeRefused(
            f"cannot wrap evidence of platform {platform[:40]!r}",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
            details={"platform": platform[:40]},
        )
    default = ReportType.PASSPORT if self_contained else ReportType.BACKGROUND_CHECK
    return UnifiedAttestationReport.model_validate(
        {
            "str_report_type": report_type or default,
            "str_tee_platform": platform,
            "json_report": to_json(body),
        }
    )


def unified_attestation_generate_report(
    tee_identity: str,
    report_type: str,
    report_hex_nonce: str = "",
    params: ReportParams | None = None,
    *,
    public_key_pem: str | None = None,
    device: Device | None = None,
) -> UnifiedAttestationReport:
    """UAI ``UnifiedAttestationGenerateReport``. ``tee_identity`` is accepted for the
    C interface's sake: a back-end attests the VM or enclave it runs in, whatever the
    identity says. The report data binds ``report_hex_nonce`` (else the user data) and
    ``public_key_pem`` (``binding.report_data``)."""
    params = params or ReportParams()
    kind = UnifiedAttestationReport.model_validate(
        {"str_report_type": report_type, "str_tee_platform": "", "json_report": "{}"}
    ).str_report_type
    if kind == ReportType.UAS:
        raise TeeMalformed(
            "a Uas report is signed by a UAS, not generated on a TEE",
            details={"key": "str_report_type"},
        )
    nested = ""
    if params.json_nested_report:
        parse_json_field(
            UnifiedAttestationNestedReports, "json_nested_report", params.json_nested_report
        )
        nested = params.json_nested_report
    data = report_data(
        public_key_pem=public_key_pem,
        user_data=_bytes_field("hex_user_data", params.hex_user_data),
        nonce=_bytes_field("hex_nonce", report_hex_nonce),
    )
    device = device or detect_device()
    evidence, extra = device.evidence(data)
    report = wrap_evidence(device.platform, evidence, report_type=kind, extra=extra)
    return report.model_copy(update={"json_nested_reports": nested})
