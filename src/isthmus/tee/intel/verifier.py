"""Offline verification of Intel DCAP quotes (SGX v3/v4/v5, TDX v4/v5).

Order of checks (each failure is a TeeRefused with its reason; nothing else escapes):

1. parse the quote (:mod:`.quote`): shape, version, key type, TEE type;
2. the collateral (:mod:`.collateral`, cached by digest): chains to the pinned root,
   CRL signatures, TCB info and QE identity signatures over their exact bytes;
3. the PCK chain in the quote ends at the pinned root key; the leaf is not on the PCK
   CRL and the PCK CA not on the root CRL; the PCK CA is the CRL's issuer;
4. the collateral is for this platform: TCB info id and FMSPC/PCE-ID equal the PCK
   extension's, the QE identity is QE for SGX and TD_QE for TDX;
5. every validity window (certificates, CRLs, TCB info, QE identity) holds at ``at``;
6. the QE report is signed by the PCK key, binds the attestation key
   (report_data = SHA-256(key || auth data) || 32 zero bytes), and the quote's header and
   body are signed by the attestation key;
7. the QE is Intel's (QE identity) and its ISVSVN level is found;
8. the platform TCB level (and the TDX module identity), converged with the QE's level,
   is judged by ``accept_tcb``.

A debug enclave verifies: ``bool_debug_disabled`` is "false" and the policy refuses it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cryptography import x509

from isthmus.tee.intel import chain as ch
from isthmus.tee.intel.collateral import (
    CollateralCache,
    VerifiedCollateral,
    Window,
    ca_type,
    cert_window,
    load_collateral_json,
    pck_ca_type,
    verify_collateral,
)
from isthmus.tee.intel.pck import PckExtension, parse_pck_extension
from isthmus.tee.intel.quote import Quote, SgxReportBody, TdReportBody, parse_quote
from isthmus.tee.intel.tcb import evaluate_platform, evaluate_qe, merge_status
from isthmus.tee.verdict import (
    DEFAULT_ACCEPTED_TCB,
    TrustAnchors,
    Verified,
    VerifyContext,
    check_tcb_status,
    check_window,
)
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    DcapCollateral,
    DcapReport,
    ReportType,
    TeePlatform,
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationReport,
    parse_json_field,
)


def _refuse(reason: TeeReason, message: str, **details: object) -> TeeRefused:
    return TeeRefused(message, reason=reason, details=dict(details))


def _check_windows(windows: list[Window] | tuple[Window, ...], at: datetime) -> datetime:
    for w in windows:
        if at < w.not_before or at > w.not_after:  # the refusal names the window
            check_window(w.label(), at, w.not_before, w.not_after, early=w.early, late=w.late)
    return min(w.not_after for w in windows)


def _pck_chain(quote: Quote, scope: ch.Scope) -> list[x509.Certificate]:
    certs = scope.load_chain(quote.pck_chain_pem, "pck_chain")
    if len(certs) < 2:
        raise _refuse(TeeReason.CHAIN_UNTRUSTED, "the quote's PCK chain has no PCK CA")
    ch.verify_chain(certs, scope.root_point, "pck_chain", scope)
    return certs


def _check_signatures(quote: Quote, leaf: x509.Certificate, scope: ch.Scope) -> None:
    if not ch.ecdsa_raw_ok(
        scope.key(leaf, "PCK certificate"), quote.qe_report_signature, quote.qe_report.raw
    ):
        raise _refuse(
            TeeReason.SIGNATURE_INVALID, "the QE report signature does not verify under the PCK key"
        )
    expected = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest()
    data = quote.qe_report.report_data
    if data[:32] != expected or data[32:] != bytes(32):
        raise _refuse(
            TeeReason.QE_BINDING,
            "the QE report does not bind the attestation key and its auth data",
        )
    key = ch.p256_key(quote.attestation_key, "attestation_key")
    if not ch.ecdsa_raw_ok(key, quote.signature, quote.signed):
        raise _refuse(
            TeeReason.SIGNATURE_INVALID,
            "the quote signature does not verify under the attestation key",
        )


def verify_quote_signatures(quote_bytes: bytes, *, at: datetime, anchors: TrustAnchors) -> Quote:
    """Quote-level checks that need no collateral: the PCK chain to the pinned root
    (validity at ``at``, no CRLs), the QE report signature, the binding and the quote
    signature. No TCB status follows from this alone."""
    quote = parse_quote(quote_bytes)
    scope = ch.Scope(anchors.intel_root_public_key)
    certs = _pck_chain(quote, scope)
    _check_windows([cert_window(c, f"PCK chain certificate {i}") for i, c in enumerate(certs)], at)
    _check_signatures(quote, certs[0], scope)
    return quote


def _match_collateral(
    quote: Quote,
    pck: PckExtension,
    vc: VerifiedCollateral,
    certs: list[x509.Certificate],
    scope: ch.Scope,
) -> None:
    tee = "TDX" if quote.is_tdx else "SGX"
    if vc.tcb_info.tee != tee:
        raise _refuse(
            TeeReason.COLLATERAL_MISMATCH,
            f"the TCB info is for {vc.tcb_info.tee}, the quote is {tee}",
        )
    if vc.tcb_info.fmspc != pck.fmspc or vc.tcb_info.pce_id != pck.pce_id:
        raise _refuse(
            TeeReason.COLLATERAL_MISMATCH,
            f"the TCB info is for FMSPC {vc.tcb_info.fmspc.hex().upper()}, "
            f"the PCK certificate's is {pck.fmspc.hex().upper()}",
        )
    want_qe = "TD_QE" if quote.is_tdx else "QE"
    if vc.qe_identity.id != want_qe:
        raise _refuse(
            TeeReason.COLLATERAL_MISMATCH,
            f"the QE identity is {vc.qe_identity.id}, a {tee} quote needs {want_qe}",
        )
    if scope.names(certs[1], "pck_chain")[1] != vc.pck_ca_subject:
        raise _refuse(
            TeeReason.COLLATERAL_MISMATCH,
            "the PCK CRL is issued by another CA than the quote's PCK CA",
        )
    if certs[0].serial_number in vc.pck_revoked:
        raise _refuse(TeeReason.CERT_REVOKED, "the PCK certificate is on the PCK CRL")
    if certs[1].serial_number in vc.root_revoked:
        raise _refuse(TeeReason.CERT_REVOKED, "the PCK CA certificate is on the root CA CRL")


def _hex(data: bytes) -> str:
    return data.hex().upper()


def _attributes(quote: Quote, pck: PckExtension) -> UnifiedAttestationAttributes:
    body = quote.body
    data = body.report_data
    common: dict[str, Any] = {
        "hex_user_data": _hex(data[:32]),
        "hex_nonce": _hex(data[:32]),
        "hex_hash_or_pem_pubkey": _hex(data[32:]),
        "bool_debug_disabled": "false" if body.debug else "true",
    }
    if isinstance(body, TdReportBody):
        # model_construct: every value is made here, upper hex / decimal / "true"|"false"
        # by construction (the validators would only re-check our own output)
        return UnifiedAttestationAttributes.model_construct(
            str_tee_platform=TeePlatform.TDX.value,
            hex_ta_measurement=_hex(body.mr_td),
            hex_boot_measurement=_hex(body.rtmrs),
            hex_signer=_hex(body.mr_owner),
            hex_secure_flags=_hex(body.td_attributes),
            hex_platform_sw_version=_hex(body.tee_tcb_svn),
            hex_platform_measurement=_hex(body.mr_seam),
            hex_platform_hw_version=_hex(pck.cpu_svn),
            **common,
        )
    assert isinstance(body, SgxReportBody)
    return UnifiedAttestationAttributes.model_construct(
        str_tee_platform=TeePlatform.SGX_DCAP.value,
        hex_ta_measurement=_hex(body.mr_enclave),
        hex_signer=_hex(body.mr_signer),
        hex_prod_id=_hex(body.raw[256:258]),
        str_min_isvsvn=str(body.isv_svn),
        hex_secure_flags=_hex(body.attributes),
        hex_platform_sw_version=_hex(body.cpu_svn),
        **common,
    )


@dataclass(frozen=True)
class DcapOutcome:
    """A verified quote with the Intel-specific details the UAR attribute set drops."""

    verified: Verified
    qe_status: str
    module_id: str  # "TDX_01" when a TDX module identity was applied, else ""
    fmspc: str
    ca: str


def verify_quote(
    quote: bytes,
    collateral: DcapCollateral | VerifiedCollateral,
    *,
    at: datetime,
    anchors: TrustAnchors | None = None,
    accept_tcb: frozenset[str] = DEFAULT_ACCEPTED_TCB,
    cache: CollateralCache | None = None,
) -> Verified:
    """Verify a DCAP quote against its collateral at ``at`` (see the module docstring)."""
    return verify_quote_detailed(
        quote, collateral, at=at, anchors=anchors, accept_tcb=accept_tcb, cache=cache
    ).verified


def verify_quote_detailed(
    quote: bytes,
    collateral: DcapCollateral | VerifiedCollateral,
    *,
    at: datetime,
    anchors: TrustAnchors | None = None,
    accept_tcb: frozenset[str] = DEFAULT_ACCEPTED_TCB,
    cache: CollateralCache | None = None,
) -> DcapOutcome:
    """:func:`verify_quote` with the QE status, module identity, FMSPC and CA type."""
    anchors = anchors or TrustAnchors()
    root = anchors.intel_root_public_key
    parsed = parse_quote(quote)
    scope = ch.Scope(root)  # this call's only: every signature is checked in every call
    if isinstance(collateral, VerifiedCollateral):
        vc = collateral
    elif cache is not None:
        vc = cache.get(collateral, root)
    else:
        vc = verify_collateral(collateral, root, scope)
    certs = _pck_chain(parsed, scope)
    pck_ca_type(certs[1], scope)
    pck = parse_pck_extension(certs[0])
    _match_collateral(parsed, pck, vc, certs, scope)
    windows = [
        *(cert_window(c, f"PCK chain certificate {i}") for i, c in enumerate(certs)),
        *vc.windows,
    ]
    valid_until = _check_windows(windows, at)
    _check_signatures(parsed, certs[0], scope)
    qe = parsed.qe_report
    qe_level = evaluate_qe(
        vc.qe_identity, qe.misc_select, qe.attributes, qe.mr_signer, qe.isv_prod_id, qe.isv_svn
    )
    body = parsed.body
    if isinstance(body, TdReportBody):
        result = evaluate_platform(
            vc.tcb_info,
            pck.sgx_tcb_svns,
            pck.pce_svn,
            body.tee_tcb_svn,
            body.mr_signer_seam,
            body.seam_attributes,
        )
    else:
        result = evaluate_platform(vc.tcb_info, pck.sgx_tcb_svns, pck.pce_svn, None)
    status = merge_status(result.status, qe_level.status)
    advisories = tuple(dict.fromkeys([*result.advisories, *qe_level.advisories]))
    check_tcb_status(status, accept_tcb)
    attributes = _attributes(parsed, pck)
    verified = Verified(
        platform=attributes.str_tee_platform,
        attributes=attributes,
        tcb_status=status,
        advisory_ids=advisories,
        valid_until=valid_until,
        evidence=parsed.raw,
    )
    return DcapOutcome(verified, qe_level.status, result.module_id, _hex(pck.fmspc), vc.ca)


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TeeMalformed(
            "b64_quote is not base64", details={"reason": TeeReason.MALFORMED, "key": "b64_quote"}
        ) from None


_DEFAULT_CACHE = CollateralCache()


def verify_dcap(report: UnifiedAttestationReport, context: VerifyContext) -> Verified:
    """The SGX_DCAP / TDX platform verifier: Passport reports carry their collateral in
    ``json_collateral``; BackgroundCheck reports take it from ``context.collateral``."""
    platform = report.str_tee_platform
    if platform not in (TeePlatform.SGX_DCAP, TeePlatform.TDX):
        raise _refuse(TeeReason.UNSUPPORTED_PLATFORM, f"{platform!r} is not SGX_DCAP or TDX")
    body = parse_json_field(DcapReport, "json_report", report.json_report)
    raw = _b64(body.b64_quote)
    parsed = parse_quote(raw)
    tee: Literal["SGX", "TDX"] = "TDX" if parsed.is_tdx else "SGX"
    if (platform == TeePlatform.TDX) != parsed.is_tdx:
        raise TeeMalformed(
            f"a {tee} quote in a {platform} report",
            details={"reason": TeeReason.MALFORMED, "key": "str_tee_platform"},
        )
    if body.json_collateral:
        collateral = load_collateral_json(body.json_collateral)
    elif report.str_report_type == ReportType.PASSPORT:
        raise _refuse(TeeReason.COLLATERAL_MISSING, "a Passport report without json_collateral")
    else:
        certs = _pck_chain(parsed, ch.Scope(context.anchors.intel_root_public_key))
        pck = parse_pck_extension(certs[0])
        found = context.collateral.intel(
            tee=tee, ca=ca_type(certs[1].subject), fmspc=pck.fmspc.hex().upper()
        )
        if found is None:
            raise _refuse(
                TeeReason.COLLATERAL_MISSING,
                f"no {tee} collateral for FMSPC {pck.fmspc.hex().upper()}",
            )
        collateral = found
    return verify_quote(
        raw,
        collateral,
        at=context.at,
        anchors=context.anchors,
        accept_tcb=context.accept_tcb,
        cache=_DEFAULT_CACHE,
    )
