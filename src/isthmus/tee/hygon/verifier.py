"""Hygon CSV verification offline: what the evidence itself can prove, and a plain list
of what it cannot.

Checked, in order (each failure one reason):

1. shape: a 4096-byte report, an 832-byte HSK and a 2084-byte CEK (``malformed``); the
   HSK/CEK come from the report's ``json_cert_chain`` (``collateral_missing`` without);
2. ``str_chip_id``, when given, equals the report's CHIP_ID (``collateral_mismatch``);
3. the SM3-HMAC over the PEK certificate and CHIP_ID (``signature_invalid``);
4. key usages (HSK 0x13; CEK 0x1004 signed by an HSK; PEK 0x1002 signed by a CEK), the CEK
   signature under the HSK and the PEK signature under the CEK (``chain_untrusted``);
5. the HSK signature under a configured Hygon root key (``TrustAnchors.
   hygon_hrk_public_keys``; ``chain_untrusted`` when none verifies). With no HRK
   configured this is *not* checked and is listed in ``Verified.unverified``, which every
   policy refuses (``unverifiable_offline``);
6. the report's SM2 signature under the PEK (``signature_invalid``).

Never checked offline: that the CEK belongs to the chip named by CHIP_ID (Hygon's key
distribution service answers that) and any firmware TCB level (a CSV report carries
none, so ``tcb_status`` is "Unknown"; CSV has no revocation data we could consult).
"""

from __future__ import annotations

from typing import Final

from isthmus.crypto import sm2
from isthmus.tee.binding import binding_attributes
from isthmus.tee.hygon.certs import (
    HRK_USER_ID,
    USAGE_CEK,
    USAGE_HSK,
    USAGE_INVALID,
    USAGE_PEK,
    CsvCert,
    HskCert,
    HygonCertError,
    HygonKey,
    parse_csv_cert,
    parse_hsk,
    parse_signature,
    verify,
)
from isthmus.tee.hygon.report import CsvAttestationReport, CsvReportError, parse_csv_report
from isthmus.tee.verdict import TrustAnchors, Verified, VerifyContext
from isthmus.wire.errors import InvalidKey, TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    HygonCsvCertChain,
    HygonCsvReport,
    TeePlatform,
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationReport,
    b64_bytes,
    parse_json_field,
)

UNVERIFIED_HRK: Final = "hsk_signed_by_hygon_root"
TCB_UNKNOWN: Final = "Unknown"


def _untrusted(message: str) -> TeeRefused:
    return TeeRefused(message, reason=TeeReason.CHAIN_UNTRUSTED)


def hrk_key(anchor: bytes) -> HygonKey:
    """A configured HRK anchor: the 65-byte uncompressed SM2 point (04 || x || y, big
    endian); its user ID is Hygon's fixed ``HYGON-SSD-HRK``."""
    return HygonKey(sm2.Sm2Point.decode(anchor), HRK_USER_ID)


def _check_chain(hsk: HskCert, cek: CsvCert, pek: CsvCert) -> None:
    if hsk.key_usage != USAGE_HSK:
        raise _untrusted(f"HSK certificate key usage is {hsk.key_usage:#x}, not {USAGE_HSK:#x}")
    if cek.key_usage != USAGE_CEK or cek.sig1_usage != USAGE_HSK or cek.sig2_usage != USAGE_INVALID:
        raise _untrusted("CEK certificate usages are not CEK, signed by an HSK")
    if pek.key_usage != USAGE_PEK or pek.sig1_usage != USAGE_CEK:
        raise _untrusted("PEK certificate usages are not PEK, signed by a CEK")
    if not verify(hsk.key, cek.signed, cek.signature1):
        raise _untrusted("the CEK certificate is not signed by the HSK")
    if not verify(cek.key, pek.signed, pek.signature1):
        raise _untrusted("the PEK certificate is not signed by the CEK")


def _check_root(hsk: HskCert, anchors: TrustAnchors) -> tuple[str, ...]:
    if not anchors.hygon_hrk_public_keys:
        return (UNVERIFIED_HRK,)
    for anchor in anchors.hygon_hrk_public_keys:
        try:
            key = hrk_key(anchor)
        except InvalidKey:
            continue
        if verify(key, hsk.signed, hsk.signature):
            return ()
    raise _untrusted("the HSK certificate is not signed by a configured Hygon root key")


def csv_attributes(report: CsvAttestationReport) -> UnifiedAttestationAttributes:
    return UnifiedAttestationAttributes(
        str_tee_platform=TeePlatform.CSV.value,
        hex_prod_id=report.vm_id.hex().upper(),
        hex_platform_sw_version=report.vm_version.hex().upper(),
        hex_boot_measurement=report.measure.hex().upper(),
        hex_secure_flags=report.policy_bytes.hex().upper(),
        bool_debug_disabled="true" if report.debug_disabled else "false",
        **binding_attributes(report.user_data),
    )


def verify_csv_report(
    quote: bytes,
    hsk_cert: bytes,
    cek_cert: bytes,
    *,
    anchors: TrustAnchors,
    chip_id: str = "",
) -> Verified:
    """Verify raw CSV evidence (report, HSK, CEK); see the module docstring."""
    try:
        report = parse_csv_report(quote)
        hsk, cek = parse_hsk(hsk_cert), parse_csv_cert(cek_cert)
        signature = parse_signature(report.signature_area)
    except (CsvReportError, HygonCertError) as exc:
        raise TeeMalformed(f"CSV evidence: {exc}", details={"key": "b64_quote"}) from None
    if chip_id and chip_id != report.chip_id.rstrip(b"\0").decode("ascii", errors="replace"):
        raise TeeRefused(
            "str_chip_id is not the report's CHIP_ID",
            reason=TeeReason.COLLATERAL_MISMATCH,
            details={"str_chip_id": chip_id[:64]},
        )
    if not report.hmac_ok():
        raise TeeRefused(
            "the PEK certificate or CHIP_ID does not match the report's HMAC",
            reason=TeeReason.SIGNATURE_INVALID,
        )
    try:
        pek = parse_csv_cert(report.pek_cert)
    except HygonCertError as exc:
        raise _untrusted(f"the report's PEK certificate: {exc}") from None
    _check_chain(hsk, cek, pek)
    unverified = _check_root(hsk, anchors)
    if not verify(pek.key, report.signed_bytes, signature):
        raise TeeRefused(
            "the CSV report signature does not verify under its PEK",
            reason=TeeReason.SIGNATURE_INVALID,
        )
    return Verified(
        platform=TeePlatform.CSV.value,
        attributes=csv_attributes(report),
        tcb_status=TCB_UNKNOWN,
        evidence=report.raw,
        unverified=unverified,
    )


def verify_csv(report: UnifiedAttestationReport, context: VerifyContext) -> Verified:
    """The ``CSV`` platform verifier (UAL's HygonCsvReport body)."""
    if report.str_tee_platform != TeePlatform.CSV.value:
        raise TeeRefused(
            f"platform {report.str_tee_platform!r} is not CSV",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
        )
    body = parse_json_field(HygonCsvReport, "json_report", report.json_report)
    if not body.json_cert_chain.strip():
        raise TeeRefused(
            "the CSV report carries no HSK/CEK certificates (json_cert_chain)",
            reason=TeeReason.COLLATERAL_MISSING,
        )
    chain = parse_json_field(HygonCsvCertChain, "json_cert_chain", body.json_cert_chain)
    return verify_csv_report(
        b64_bytes("b64_quote", body.b64_quote),
        b64_bytes("b64_hsk_cert", chain.b64_hsk_cert),
        b64_bytes("b64_cek_cert", chain.b64_cek_cert),
        anchors=context.anchors,
        chip_id=body.str_chip_id,
    )
