"""RA-TLS: attestation evidence carried in a TLS certificate, checked to bind the
certificate's own public key.

A verifier accepts a certificate only when (1) the evidence in it verifies with its
platform's verifier (``isthmus.tee.verify.verify_report``: the same chain, signature,
collateral and TCB checks as a UAR) and (2) the evidence binds this certificate's key,
by the rule of the form it came in:

* **TCG DICE tagged evidence** (interoperable RA-TLS): the claims' ``pubkey-hash`` equals
  ``H(SPKI DER)`` with the algorithm the claim names (sha-256/384/512), and the quote's
  ``report_data[0:32]`` equals ``SHA-256(claims buffer)`` (the exact bytes received);
* **SGX quote in an extension** (Intel/Gramine): ``report_data[0:32]`` equals
  ``SHA-256(SPKI DER)``.

Anything else is refused with ``key_binding``: a quote, however genuine, that was made
for another key proves nothing about the peer holding this certificate's private key
(the TLS handshake proves that). ``report_data[32:64]`` is not part of either rule.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509

from isthmus.tee import ratls_cbor
from isthmus.tee.ratls_cert import (
    OID_SGX_QUOTE,
    OID_TCG_DICE_ENDORSEMENT_MANIFEST,
    OID_TCG_DICE_TAGGED_EVIDENCE,
    PrivateKey,
    build_certificate,
    certificate_evidence,
    load_certificate,
    public_spki,
)
from isthmus.tee.verdict import Verified, VerifyContext
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    DcapCollateral,
    DcapReport,
    HygonCsvReport,
    ReportType,
    SnpReport,
    TeePlatform,
    TeeReason,
    UnifiedAttestationReport,
    to_json,
)

#: CBOR tags naming the evidence type. IANA: 60000 Intel TEE quote, 60001 Intel TEE
#: report, 60002 legacy SGX report. rats-tls (private range): 0x1a7501.. below.
TAG_INTEL_TEE_QUOTE = 60000
TAG_INTEL_TEE_REPORT = 60001
TAG_SGX_LEGACY_REPORT = 60002
TAG_RATS_INTEL_QUOTE = 0x1A7501
TAG_RATS_INTEL_REPORT = 0x1A7502
TAG_RATS_SGX_LEGACY_REPORT = 0x1A7503
TAG_RATS_SEV_SNP = 0x1A7504
TAG_RATS_SEV = 0x1A7505
TAG_RATS_CSV = 0x1A7506
_LOCAL_REPORT_TAGS = {
    TAG_INTEL_TEE_REPORT,
    TAG_SGX_LEGACY_REPORT,
    TAG_RATS_INTEL_REPORT,
    TAG_RATS_SGX_LEGACY_REPORT,
}
_SNP_REPORT_DATA = slice(0x50, 0x90)
_CSV_PLATFORM_HINT = TeePlatform.CSV


class RaTlsForm(StrEnum):
    TCG_DICE = "tcg_dice"
    SGX_QUOTE_EXTENSION = "sgx_quote_extension"


@dataclass(frozen=True)
class RaTlsEvidence:
    """What an RA-TLS certificate claims, before anything is verified.

    ``key_hash``/``hash_algorithm``: the claimed hash of the certificate's key (the
    ``pubkey-hash`` claim; for the SGX-extension form, the quote's report_data[0:32]).
    ``bound_user_data``: the 32 bytes the quote's report_data[0:32] must hold."""

    form: RaTlsForm
    platform: str
    quote: bytes
    key_hash: bytes
    hash_algorithm: str
    spki_der: bytes
    claims_buffer: bytes = b""
    nonce: bytes | None = None
    tag: int | None = None
    endorsements: bytes = b""

    @property
    def bound_user_data(self) -> bytes:
        if self.form is RaTlsForm.TCG_DICE:
            return hashlib.sha256(self.claims_buffer).digest()
        return hashlib.sha256(self.spki_der).digest()

    def key_matches(self) -> bool:
        """Whether the claimed key hash is the hash of this certificate's SPKI."""
        actual = hashlib.new(self.hash_algorithm, self.spki_der).digest()
        return hmac.compare_digest(actual, self.key_hash)


def intel_platform(quote: bytes) -> str:
    """SGX_DCAP, TDX or SGX_EPID from an Intel quote header (version, key type, TEE)."""
    if len(quote) < 8:
        raise TeeMalformed("quote shorter than its header", details={"key": "quote"})
    version, key_type, tee_type = struct.unpack_from("<HHI", quote)
    if version == 2 or (version == 3 and key_type in (0, 1)):
        return TeePlatform.SGX_EPID
    if version == 3 and key_type in (2, 3):
        return TeePlatform.SGX_DCAP
    if version in (4, 5) and tee_type == 0:
        return TeePlatform.SGX_DCAP
    if version in (4, 5) and tee_type == 0x81:
        return TeePlatform.TDX
    raise TeeRefused(
        f"Intel quote version {version}, TEE type {tee_type:#x} is not one we verify",
        reason=TeeReason.UNSUPPORTED_VERSION,
        details={"version": version, "tee_type": tee_type},
    )


def quote_report_data(platform: str, quote: bytes) -> bytes:
    """The 64-byte report data of a quote or report, read from its fixed offset (used
    only to state the SGX-extension form's claim; the binding is checked on the
    verified attributes)."""
    offset: int | None = None
    if platform == TeePlatform.SEV_SNP:
        offset = _SNP_REPORT_DATA.start
    elif platform in (TeePlatform.SGX_DCAP, TeePlatform.TDX) and len(quote) >= 8:
        version = struct.unpack_from("<H", quote)[0]
        body = 48 + (6 if version == 5 else 0)
        offset = body + (520 if platform == TeePlatform.TDX else 320)
    if offset is None or len(quote) < offset + 64:
        raise TeeMalformed("quote too short for its report data", details={"key": "quote"})
    return quote[offset : offset + 64]


def _tag_platform(tag: int, evidence: bytes) -> str:
    if tag in (TAG_INTEL_TEE_QUOTE, TAG_RATS_INTEL_QUOTE):
        return intel_platform(evidence)
    if tag == TAG_RATS_SEV_SNP:
        return TeePlatform.SEV_SNP
    if tag == TAG_RATS_CSV:
        return _CSV_PLATFORM_HINT
    if tag in _LOCAL_REPORT_TAGS:
        raise TeeRefused(
            "the evidence is a local (MAC-ed) TEE report, verifiable only on the same "
            "machine, not a quote",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
            details={"tag": tag},
        )
    raise TeeRefused(
        f"unknown RA-TLS evidence tag {tag}",
        reason=TeeReason.UNSUPPORTED_PLATFORM,
        details={"tag": tag},
    )


def evidence_from_certificate(cert: bytes | str) -> RaTlsEvidence:
    """The evidence an RA-TLS certificate (PEM or DER) carries, parsed but not verified.

    :raises TeeMalformed: not a certificate, no evidence extension, bad CBOR (named).
    :raises TeeRefused: a form or evidence type that cannot be verified offline."""
    found = certificate_evidence(load_certificate(cert))
    if found.oid == OID_TCG_DICE_TAGGED_EVIDENCE:
        tagged = ratls_cbor.decode_evidence(found.value)
        claims = ratls_cbor.decode_claims(tagged.claims_buffer)
        return RaTlsEvidence(
            form=RaTlsForm.TCG_DICE,
            platform=_tag_platform(tagged.tag, tagged.evidence),
            quote=tagged.evidence,
            key_hash=claims.key_hash,
            hash_algorithm=claims.hash_algorithm,
            spki_der=found.spki_der,
            claims_buffer=tagged.claims_buffer,
            nonce=claims.nonce,
            tag=tagged.tag,
            endorsements=found.endorsements,
        )
    platform = intel_platform(found.value)
    return RaTlsEvidence(
        form=RaTlsForm.SGX_QUOTE_EXTENSION,
        platform=platform,
        quote=found.value,
        key_hash=quote_report_data(platform, found.value)[:32],
        hash_algorithm="sha256",
        spki_der=found.spki_der,
    )


def evidence_report(
    evidence: RaTlsEvidence,
    *,
    collateral: DcapCollateral | None = None,
    report_type: ReportType | None = None,
) -> UnifiedAttestationReport:
    """The UAR for the certificate's quote (Passport when collateral is given, else
    BackgroundCheck). The UAR carries the quote only: the certificate binding is checked
    here, by :func:`verify_ratls_certificate`, not by a later reader of the UAR."""
    b64 = base64.b64encode(evidence.quote).decode()
    body: DcapReport | SnpReport | HygonCsvReport
    if evidence.platform in (TeePlatform.SGX_DCAP, TeePlatform.TDX):
        body = DcapReport(b64_quote=b64, json_collateral=to_json(collateral) if collateral else "")
    elif evidence.platform == TeePlatform.SEV_SNP:
        body = SnpReport(b64_quote=b64)
    elif evidence.platform == TeePlatform.CSV:
        body = HygonCsvReport(b64_quote=b64)
    else:
        raise TeeRefused(
            f"{evidence.platform} evidence in an RA-TLS certificate cannot be verified offline",
            reason=TeeReason.UNVERIFIABLE_OFFLINE,
            details={"platform": evidence.platform},
        )
    kind = report_type or (ReportType.PASSPORT if collateral else ReportType.BACKGROUND_CHECK)
    return UnifiedAttestationReport(
        str_report_type=kind, str_tee_platform=evidence.platform, json_report=to_json(body)
    )


def check_key_binding(evidence: RaTlsEvidence, verified: Verified) -> None:
    """Refuse (``key_binding``) unless the verified evidence binds the certificate key."""
    if not evidence.key_matches():
        raise TeeRefused(
            "the RA-TLS evidence's public-key hash is not the hash of this certificate's key",
            reason=TeeReason.KEY_BINDING,
            details={"form": evidence.form, "claimed": evidence.key_hash.hex().upper()},
        )
    actual = verified.attributes.hex_user_data.upper()
    expected = evidence.bound_user_data.hex().upper()
    if not hmac.compare_digest(actual, expected):
        raise TeeRefused(
            "the quote's report data does not bind this certificate's public key",
            reason=TeeReason.KEY_BINDING,
            details={"form": evidence.form, "expected": expected, "actual": actual},
        )


def verify_ratls_certificate(
    cert: bytes | str,
    context: VerifyContext,
    *,
    collateral: DcapCollateral | None = None,
) -> Verified:
    """Verify an RA-TLS certificate's evidence and its binding to the certificate key.

    ``collateral``: Intel collateral to verify with (else the context's BackgroundCheck
    source). The quote is verified first, so a quote that does not verify is refused for
    that reason; a genuine quote made for another key is refused with ``key_binding``."""
    from isthmus.tee.verify import verify_report  # the registry imports platform modules

    evidence = evidence_from_certificate(cert)
    verified = verify_report(evidence_report(evidence, collateral=collateral), context)
    check_key_binding(evidence, verified)
    return verified


def ratls_report_data(
    public_spki_der: bytes,
    *,
    form: RaTlsForm = RaTlsForm.TCG_DICE,
    nonce: bytes | None = None,
    hash_algorithm: str = "sha256",
) -> bytes:
    """The 64-byte report data a quote must carry for a certificate of this key (what a
    node asks its TEE device for before :func:`make_ratls_certificate`)."""
    if form is RaTlsForm.TCG_DICE:
        bound = hashlib.sha256(_claims(public_spki_der, nonce, hash_algorithm)).digest()
    else:
        bound = hashlib.sha256(public_spki_der).digest()
    return bound + bytes(32)


def _claims(spki: bytes, nonce: bytes | None, hash_algorithm: str) -> bytes:
    key_hash = hashlib.new(hash_algorithm, spki).digest()
    return ratls_cbor.encode_claims(
        ratls_cbor.Claims(hash_algorithm=hash_algorithm, key_hash=key_hash, nonce=nonce)
    )


def make_ratls_certificate(
    private_key: PrivateKey,
    quote: bytes,
    *,
    form: RaTlsForm = RaTlsForm.TCG_DICE,
    tag: int = TAG_INTEL_TEE_QUOTE,
    nonce: bytes | None = None,
    hash_algorithm: str = "sha256",
    endorsements: bytes = b"",
    subject: str = "Isthmus RA-TLS",
    dns_names: Sequence[str] = (),
    issuer: tuple[x509.Certificate, PrivateKey] | None = None,
) -> x509.Certificate:
    """An RA-TLS certificate for ``private_key`` carrying ``quote`` in ``form``.

    The quote should have been made over :func:`ratls_report_data` of the same key, form,
    nonce and algorithm; this function does not check it (tests build mismatched ones on
    purpose). Self-signed unless ``issuer`` (CA certificate, CA key) is given: a node can
    have its usual CA sign its RA-TLS certificate, so partners that do not read the
    evidence still accept it."""
    spki = public_spki(private_key)
    extensions: list[tuple[str, bytes]]
    if form is RaTlsForm.TCG_DICE:
        value = ratls_cbor.encode_evidence(tag, quote, _claims(spki, nonce, hash_algorithm))
        extensions = [(OID_TCG_DICE_TAGGED_EVIDENCE, value)]
        if endorsements:
            extensions.append((OID_TCG_DICE_ENDORSEMENT_MANIFEST, endorsements))
    else:
        extensions = [(OID_SGX_QUOTE, quote)]
    return build_certificate(
        private_key, extensions, subject=subject, dns_names=dns_names, issuer=issuer
    )
