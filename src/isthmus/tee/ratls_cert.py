"""Reading and writing the X.509 side of RA-TLS: which extension carries the evidence,
the exact SubjectPublicKeyInfo bytes a binding hashes, and a certificate builder.

The forms recognised (see ``docs`` for the binding rule of each):

* **TCG DICE tagged evidence** (OID 2.23.133.5.4.9, the CCC interoperable RA-TLS form;
  optional endorsements in 2.23.133.5.4.2): a CBOR-tagged ``[evidence, claims]``.
* **SGX quote in an extension** (Intel/Gramine RA-TLS, OID 1.2.840.113741.1337.6; Gramine
  writes the OID with its own DER header inside, which reads as
  0.6.9.42.840.113741.1337.6, and both spellings are accepted): the raw quote.
* Recognised only to refuse them by name: the EPID-era IAS report extensions
  (1.2.840.113741.1337.2-.5; the IAS is retired, so they cannot be verified) and Open
  Enclave's report extensions (1.2.840.113556.10.1.1, 1.3.6.1.4.1.311.105.1).

The SPKI is cut out of the certificate's own TBS bytes (DER is minimal, so re-armouring
the content is exact), never re-serialised from the parsed key: the hash in the evidence
covers the bytes the certificate carries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from isthmus.crypto.der import SEQUENCE, decode_sequence, encode_tlv
from isthmus.wire.errors import InvalidKey, TeeMalformed, TeeRefused
from isthmus.wire.tee import TeeReason

OID_TCG_DICE_TAGGED_EVIDENCE = "2.23.133.5.4.9"
OID_TCG_DICE_ENDORSEMENT_MANIFEST = "2.23.133.5.4.2"
OID_SGX_QUOTE = "1.2.840.113741.1337.6"
OID_SGX_QUOTE_GRAMINE = "0.6.9.42.840.113741.1337.6"
OID_EPID_IAS = (
    "1.2.840.113741.1337.2",  # IAS report body
    "1.2.840.113741.1337.3",  # IAS root certificate
    "1.2.840.113741.1337.4",  # IAS leaf certificate
    "1.2.840.113741.1337.5",  # IAS report signature
)
OID_OPEN_ENCLAVE = ("1.2.840.113556.10.1.1", "1.3.6.1.4.1.311.105.1")
MAX_CERTIFICATE_BYTES = 512 * 1024

PrivateKey = (
    ec.EllipticCurvePrivateKey
    | rsa.RSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


@dataclass(frozen=True)
class CertificateEvidence:
    """What a certificate carries: the OID the evidence came in, its raw value, the
    optional endorsements, and the exact SPKI DER."""

    oid: str
    value: bytes
    spki_der: bytes
    endorsements: bytes = b""


def load_certificate(cert: bytes | str) -> x509.Certificate:
    """A certificate from PEM or DER; anything else is :class:`TeeMalformed`."""
    data = cert.encode() if isinstance(cert, str) else bytes(cert)
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise TeeMalformed("RA-TLS certificate too large", details={"key": "certificate"})
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data.strip() + b"\n")
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise TeeMalformed(
            f"not an X.509 certificate (PEM or DER): {exc}", details={"key": "certificate"}
        ) from None


def spki_der(certificate: x509.Certificate) -> bytes:
    """The SubjectPublicKeyInfo exactly as the certificate encodes it."""
    try:
        fields = decode_sequence(certificate.tbs_certificate_bytes)
        index = 6 if fields and fields[0][0] == 0xA0 else 5  # [0] version is optional
        tag, content = fields[index]
    except (InvalidKey, IndexError, ValueError):
        raise TeeMalformed(
            "the certificate's TBS has no readable SubjectPublicKeyInfo",
            details={"key": "certificate"},
        ) from None
    if tag != SEQUENCE:
        raise TeeMalformed("SubjectPublicKeyInfo is not a SEQUENCE", details={"key": "certificate"})
    return encode_tlv(SEQUENCE, content)


def certificate_evidence(certificate: x509.Certificate) -> CertificateEvidence:
    """Find the evidence extension; refuse (naming the form) what cannot be verified."""
    try:
        extensions = list(certificate.extensions)
    except Exception as exc:  # duplicate or unparsable known extensions
        raise TeeMalformed(
            f"the certificate's extensions do not parse: {exc}", details={"key": "extensions"}
        ) from None
    found = {ext.oid.dotted_string: ext for ext in extensions}
    endorsements = _raw(found.get(OID_TCG_DICE_ENDORSEMENT_MANIFEST))
    for oid in (OID_TCG_DICE_TAGGED_EVIDENCE, OID_SGX_QUOTE, OID_SGX_QUOTE_GRAMINE):
        if oid in found:
            return CertificateEvidence(
                oid=oid,
                value=_raw(found[oid]),
                spki_der=spki_der(certificate),
                endorsements=endorsements,
            )
    if any(oid in found for oid in OID_EPID_IAS):
        raise TeeRefused(
            "the certificate carries an EPID-era IAS report; Intel's attestation service is "
            "retired, so it cannot be verified",
            reason=TeeReason.UNVERIFIABLE_OFFLINE,
            details={"form": "sgx_epid_ias"},
        )
    if any(oid in found for oid in OID_OPEN_ENCLAVE):
        raise TeeRefused(
            "the certificate carries an Open Enclave report extension, a form not supported",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
            details={"form": "open_enclave"},
        )
    raise TeeMalformed(
        f"no RA-TLS evidence extension ({OID_TCG_DICE_TAGGED_EVIDENCE} or {OID_SGX_QUOTE})",
        details={"key": "extensions"},
    )


def _raw(extension: x509.Extension[x509.ExtensionType] | None) -> bytes:
    if extension is None:
        return b""
    value = extension.value
    if isinstance(value, x509.UnrecognizedExtension):
        return value.value
    return value.public_bytes()


def build_certificate(
    private_key: PrivateKey,
    extensions: Sequence[tuple[str, bytes]],
    *,
    subject: str = "Isthmus RA-TLS",
    dns_names: Sequence[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    issuer: tuple[x509.Certificate, PrivateKey] | None = None,
    critical: bool = False,
) -> x509.Certificate:
    """A certificate for ``private_key``'s public key carrying ``extensions`` (OID, raw
    value). Self-signed unless ``issuer`` (a CA certificate and key) is given. The
    evidence extension is non-critical by default: the TCG draft says it SHOULD be
    critical, but OpenSSL peers refuse a certificate with an unknown critical extension,
    which would break mutual TLS with every partner that does not read RA-TLS."""
    start = not_before or dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    end = not_after or dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signer = (issuer[0].subject, issuer[1]) if issuer else (name, private_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    for oid, value in extensions:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=critical
        )
    digest = (
        None
        if isinstance(signer, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
        else hashes.SHA256()
    )
    return builder.sign(signer, digest)


def public_spki(private_key: PrivateKey) -> bytes:
    """The SPKI DER of ``private_key``'s public key (what a certificate for it carries)."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
