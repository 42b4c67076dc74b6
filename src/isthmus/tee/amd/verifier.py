"""SEV-SNP verification: a report plus its VCEK/VLEK becomes a ``Verified`` or a refusal.

The checks run in a fixed order, cheapest refusal first, and each failure has one reason:

1. report shape: 0x4A0 bytes (``malformed``), version 2/3/5 and signature algorithm 1
   (``unsupported_version``);
2. endorsement chain to a pinned ARK key, each certificate valid at ``at``
   (``chain_untrusted``, ``cert_expired``, ``cert_not_yet_valid``; see ``chain``);
3. the endorsement belongs to this report: SIGNING_KEY names the kind of key that
   endorses it (VCEK 0, VLEK 1), the product name matches the root, the SPL extensions
   ``1.3.6.1.4.1.3704.1.3.{1,2,3,8}`` equal REPORTED_TCB bytes 0, 1, 6, 7 and, for a VCEK,
   hwID ``1.3.6.1.4.1.3704.1.4`` equals CHIP_ID unless the host masked CHIP_ID
   (``tcb_mismatch``, ``signature_invalid``);
4. the ECDSA P-384/SHA-384 signature over bytes 0x000-0x29F (``signature_invalid``).

SNP has no TCB status service: a report whose TCB equals the certified SPL is
"UpToDate" by construction (the VCEK is issued per TCB). Debug is not refused here; it is
an attribute (``bool_debug_disabled``) the policy judges, so a report is described
faithfully and refused by the policy that forbids debug.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from isthmus.crypto import der
from isthmus.tee.amd.chain import (
    EndorsementChain,
    parse_chain_pem,
    parse_endorsement,
    pin_digest,
    verify_chain,
)
from isthmus.tee.amd.report import (
    SIGNING_KEY_VCEK,
    SIGNING_KEY_VLEK,
    SnpAttestationReport,
    parse_snp_report,
)
from isthmus.tee.binding import binding_attributes
from isthmus.tee.verdict import TrustAnchors, Verified, VerifyContext
from isthmus.wire.errors import InvalidKey, TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    SnpReport,
    TeePlatform,
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationReport,
    b64_bytes,
    parse_json_field,
)

OID_PRODUCT_NAME: Final = "1.3.6.1.4.1.3704.1.2"
OID_HWID: Final = "1.3.6.1.4.1.3704.1.4"
# SPL extension -> byte of REPORTED_TCB, the Milan and Genoa layout
# (bootloader, TEE, SNP, microcode).
SPL_BYTES: Final = {
    "1.3.6.1.4.1.3704.1.3.1": 0,
    "1.3.6.1.4.1.3704.1.3.2": 1,
    "1.3.6.1.4.1.3704.1.3.3": 6,
    "1.3.6.1.4.1.3704.1.3.8": 7,
}
TCB_LAYOUT_PRODUCTS: Final = frozenset({"Milan", "Genoa"})


def _mismatch(message: str, **details: object) -> TeeRefused:
    return TeeRefused(message, reason=TeeReason.TCB_MISMATCH, details=dict(details))


def _spl(chain: EndorsementChain, oid: str) -> int:
    value = chain.leaf.extensions.get(oid)
    if value is None:
        raise _mismatch(f"the {chain.kind} has no SPL extension {oid}", extension=oid)
    try:
        return der.decode_integer(der.decode_single(value, der.INTEGER))
    except InvalidKey:
        raise _mismatch(f"the {chain.kind} SPL extension {oid} is not an INTEGER") from None


def _check_binding(report: SnpAttestationReport, chain: EndorsementChain) -> None:
    expected = {SIGNING_KEY_VCEK: "VCEK", SIGNING_KEY_VLEK: "VLEK"}.get(report.signing_key)
    if expected != chain.kind:
        raise TeeRefused(
            f"the report's SIGNING_KEY ({report.signing_key}) does not name a {chain.kind}",
            reason=TeeReason.SIGNATURE_INVALID,
            details={"signing_key": report.signing_key, "endorsement": chain.kind},
        )
    if chain.product not in TCB_LAYOUT_PRODUCTS:
        raise TeeRefused(
            f"SEV-SNP product {chain.product}: its TCB layout is not supported",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
            details={"product": chain.product},
        )
    name = chain.leaf.extensions.get(OID_PRODUCT_NAME)
    if name is not None:
        text = name[2:].decode("ascii", errors="replace") if len(name) > 2 else ""
        if text.split("-")[0] != chain.product:
            raise TeeRefused(
                f"the {chain.kind} names product {text!r}, its root is {chain.product}",
                reason=TeeReason.CHAIN_UNTRUSTED,
                details={"product": text},
            )
    tcb = report.reported_tcb_bytes
    for oid, index in SPL_BYTES.items():
        if _spl(chain, oid) != tcb[index]:
            raise _mismatch(
                f"the {chain.kind} certifies SPL {_spl(chain, oid)} for {oid}, the report "
                f"has {tcb[index]}: this endorsement is for another TCB",
                extension=oid,
                expected=_spl(chain, oid),
                actual=tcb[index],
            )
    hwid = chain.leaf.extensions.get(OID_HWID)
    if chain.kind == "VCEK" and not report.chip_id_masked and hwid != report.chip_id:
        raise _mismatch("the VCEK hwID is not this report's CHIP_ID: another chip's key")


def _check_signature(report: SnpAttestationReport, chain: EndorsementChain) -> None:
    signature = encode_dss_signature(report.signature_r, report.signature_s)
    try:
        chain.leaf_key().verify(signature, report.signed_bytes, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise TeeRefused(
            f"the SEV-SNP report signature does not verify under its {chain.kind}",
            reason=TeeReason.SIGNATURE_INVALID,
        ) from None


def snp_attributes(report: SnpAttestationReport) -> UnifiedAttestationAttributes:
    return UnifiedAttestationAttributes(
        str_tee_platform=TeePlatform.SEV_SNP.value,
        hex_platform_hw_version=report.chip_id.hex().upper(),
        hex_platform_sw_version=f"{report.reported_tcb:016X}",
        hex_secure_flags=f"{report.policy:016X}",
        hex_ta_measurement=report.measurement.hex().upper(),
        hex_signer=report.id_key_digest.hex().upper(),
        hex_prod_id=report.family_id.hex().upper(),
        str_min_isvsvn=str(report.guest_svn),
        bool_debug_disabled="false" if report.debug_allowed else "true",
        **binding_attributes(report.report_data),
    )


def _verify(
    report: SnpAttestationReport,
    leaf_der: bytes,
    extra_pem: str | None,
    *,
    at: datetime,
    anchors: TrustAnchors,
    key: str,
) -> Verified:
    if at.tzinfo is None:
        raise ValueError("the verification time must be timezone-aware")
    leaf = parse_endorsement(leaf_der, key)
    extra = parse_chain_pem(extra_pem, key) if extra_pem else []
    pins = {product: pin_digest(value) for product, value in anchors.amd_ark_public_keys.items()}
    chain = verify_chain(leaf, at=at, pins=pins, extra=extra)
    _check_binding(report, chain)
    _check_signature(report, chain)
    return Verified(
        platform=TeePlatform.SEV_SNP.value,
        attributes=snp_attributes(report),
        tcb_status="UpToDate",
        valid_until=chain.valid_until,
        evidence=report.raw,
    )


def verify_snp_report(
    report: bytes,
    endorsement_der: bytes,
    *,
    at: datetime,
    anchors: TrustAnchors,
    ask_chain_pem: str | None = None,
) -> Verified:
    """Verify raw report bytes with their VCEK/VLEK (DER). ``ask_chain_pem`` may add the
    ASK/ASVK (and ARK); the bundled Milan/Genoa ASK/ARK are always candidates."""
    return _verify(
        parse_snp_report(report),
        endorsement_der,
        ask_chain_pem,
        at=at,
        anchors=anchors,
        key="endorsement",
    )


def _split_chain(text: str) -> tuple[bytes, str]:
    """First PEM block = the VCEK/VLEK, the rest = ASK/ASVK (and ARK)."""
    certificates = parse_chain_pem(text)
    if not certificates:
        raise TeeMalformed("pem_cert_chain holds no certificate", details={"key": "pem_cert_chain"})
    marker = "-----BEGIN CERTIFICATE-----"
    rest = marker.join(text.split(marker)[2:])
    return certificates[0].der, (marker + rest) if rest else ""


def verify_snp(report: UnifiedAttestationReport, context: VerifyContext) -> Verified:
    """The ``SEV_SNP`` platform verifier. A Passport's ``pem_cert_chain`` carries the
    VCEK/VLEK (+ ASK/ASVK); without it the VCEK is looked up in the operator's collateral
    by CHIP_ID and REPORTED_TCB (``collateral_missing`` when absent)."""
    if report.str_tee_platform != TeePlatform.SEV_SNP.value:
        raise TeeRefused(
            f"platform {report.str_tee_platform!r} is not SEV_SNP",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
        )
    body = parse_json_field(SnpReport, "json_report", report.json_report)
    parsed = parse_snp_report(b64_bytes("b64_quote", body.b64_quote))
    if body.pem_cert_chain.strip():
        leaf_der, extra = _split_chain(body.pem_cert_chain)
        key = "pem_cert_chain"
    else:
        found = context.collateral.amd_endorsement(
            chip_id=parsed.chip_id, reported_tcb=parsed.reported_tcb
        )
        if found is None:
            raise TeeRefused(
                "no VCEK for this chip and TCB in the collateral store (and none in the report)",
                reason=TeeReason.COLLATERAL_MISSING,
                details={
                    "chip_id": parsed.chip_id.hex().upper()[:16],
                    "reported_tcb": f"{parsed.reported_tcb:016X}",
                },
            )
        leaf_der, extra, key = found, "", "collateral"
    return _verify(parsed, leaf_der, extra, at=context.at, anchors=context.anchors, key=key)
