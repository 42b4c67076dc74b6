"""X.509 chains and CRLs of the Intel SGX PKI, ending at a *pinned* root public key.

A chain is trusted only when its last signature verifies under the pinned root key
(``TrustAnchors.intel_root_public_key``); a root certificate with the right subject name
but another key fails here with ``chain_untrusted``. Intel's PKI is ECDSA P-256 with
SHA-256 throughout, so any other key or signature algorithm is refused instead of being
handed to a generic path validator. Validity windows are not judged here: every function
returns the certificates, and the caller checks all windows at the injected time, once,
so a cached verified chain is re-judged for time on every use.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import TeeReason

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*?-----END CERTIFICATE-----")
_ECDSA_SHA256 = x509.oid.SignatureAlgorithmOID.ECDSA_WITH_SHA256
MAX_CHAIN = 4


def _refuse(reason: TeeReason, message: str, **details: object) -> TeeRefused:
    return TeeRefused(message, reason=reason, details=dict(details))


def p256_key(point: bytes, what: str) -> ec.EllipticCurvePublicKey:
    """A P-256 key from a 64-byte x||y or a 65-byte uncompressed point."""
    if len(point) == 64:
        point = b"\x04" + point
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise TeeMalformed(
            f"{what} is not a P-256 point", details={"reason": TeeReason.MALFORMED, "field": what}
        ) from None


def ecdsa_raw_ok(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """A 64-byte big-endian r||s ECDSA-SHA256 signature (the form quotes and PCS use)."""
    if len(signature) != 64:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (r > 0 and s > 0):
        return False
    try:
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def load_pem_chain(pem: bytes | str, what: str) -> list[x509.Certificate]:
    """The certificates of a PEM chain, leaf first; at least one, at most MAX_CHAIN."""
    data = pem.encode() if isinstance(pem, str) else pem
    blocks = _PEM_CERT.findall(data)
    if not blocks or len(blocks) > MAX_CHAIN:
        raise TeeMalformed(
            f"{what}: expected 1..{MAX_CHAIN} PEM certificates, found {len(blocks)}",
            details={"reason": TeeReason.MALFORMED, "field": what},
        )
    certs = []
    for block in blocks:
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise TeeMalformed(
                f"{what}: a certificate does not parse ({exc})",
                details={"reason": TeeReason.MALFORMED, "field": what},
            ) from None
    return certs


def cert_key(cert: x509.Certificate, what: str) -> ec.EllipticCurvePublicKey:
    try:
        key = cert.public_key()
    except ValueError:
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise _refuse(TeeReason.CHAIN_UNTRUSTED, f"{what}: not an ECDSA P-256 key")
    return key


def point_of(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _signed_by(
    tbs: bytes, signature: bytes, oid: x509.ObjectIdentifier, key: ec.EllipticCurvePublicKey
) -> bool:
    if oid != _ECDSA_SHA256:
        return False
    try:
        key.verify(signature, tbs, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def cert_signed_by(cert: x509.Certificate, key: ec.EllipticCurvePublicKey) -> bool:
    return _signed_by(cert.tbs_certificate_bytes, cert.signature, cert.signature_algorithm_oid, key)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return bc.ca


_ROOTS_SEEN: dict[bytes, bool] = {}  # DER of root certificates whose self-signature verified


def root_point_of(key: ec.EllipticCurvePublicKey) -> bytes:
    return point_of(key)


def _root_self_signed(cert: x509.Certificate, key: ec.EllipticCurvePublicKey) -> bool:
    """The pinned root's self-signature, checked once per distinct certificate: the
    answer is a pure function of the certificate's bytes (which include the key)."""
    der = cert.public_bytes(Encoding.DER)
    if der in _ROOTS_SEEN:
        return True
    if not cert_signed_by(cert, key):
        return False
    if len(_ROOTS_SEEN) < 16:
        _ROOTS_SEEN[der] = True
    return True


def verify_chain(certs: Sequence[x509.Certificate], root_point: bytes, what: str) -> None:
    """Each certificate signed by the next; the last one either *is* the pinned root
    (its key equals the pin and it signs itself) or is signed by the pinned key."""
    root_key = p256_key(root_point, "intel_root_public_key")
    for i, cert in enumerate(certs):
        if i + 1 < len(certs):
            issuer = certs[i + 1]
            if cert.issuer != issuer.subject or not _is_ca(issuer):
                raise _refuse(
                    TeeReason.CHAIN_UNTRUSTED,
                    f"{what}: certificate {i} is not issued by the next one",
                )
            if not cert_signed_by(cert, cert_key(issuer, what)):
                raise _refuse(
                    TeeReason.CHAIN_UNTRUSTED,
                    f"{what}: signature of certificate {i} does not verify",
                )
            continue
        if point_of(cert_key(cert, what)) == root_point_of(root_key):
            if not _root_self_signed(cert, root_key):
                raise _refuse(TeeReason.CHAIN_UNTRUSTED, f"{what}: root self-signature fails")
        elif not cert_signed_by(cert, root_key):
            raise _refuse(
                TeeReason.CHAIN_UNTRUSTED,
                f"{what}: the chain does not end at the pinned Intel root key",
            )


@dataclass(frozen=True)
class VerifiedCrl:
    issuer: x509.Name
    this_update: datetime
    next_update: datetime
    revoked: frozenset[int]


def load_crl(text: str | bytes, what: str) -> x509.CertificateRevocationList:
    """A CRL given as hex of DER (dcap-qvl, UAR), PEM, base64 DER, or raw DER bytes."""
    der: bytes | None = None
    if isinstance(text, bytes) and text[:1] == b"\x30":
        der = text
    else:
        s = text.decode("ascii", "replace") if isinstance(text, bytes) else text
        s = s.strip()
        if "-----BEGIN" in s:
            try:
                return x509.load_pem_x509_crl(s.encode())
            except ValueError:
                der = None
        else:
            try:
                der = bytes.fromhex(s)
            except ValueError:
                try:
                    der = base64.b64decode(s, validate=True)
                except (binascii.Error, ValueError):
                    der = None
    if der is not None:
        try:
            return x509.load_der_x509_crl(der)
        except ValueError:
            pass
    raise TeeMalformed(
        f"{what} is not a DER/PEM CRL", details={"reason": TeeReason.MALFORMED, "field": what}
    )


def verify_crl(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, what: str
) -> VerifiedCrl:
    if crl.issuer != issuer.subject:
        raise _refuse(
            TeeReason.COLLATERAL_MISMATCH,
            f"{what} is issued by {crl.issuer.rfc4514_string()}, "
            f"not {issuer.subject.rfc4514_string()}",
        )
    if not _signed_by(
        crl.tbs_certlist_bytes, crl.signature, crl.signature_algorithm_oid, cert_key(issuer, what)
    ):
        raise _refuse(TeeReason.CRL_INVALID, f"{what}: signature does not verify")
    next_update = crl.next_update_utc
    if next_update is None:
        raise _refuse(TeeReason.CRL_INVALID, f"{what} has no nextUpdate")
    return VerifiedCrl(
        issuer=crl.issuer,
        this_update=crl.last_update_utc,
        next_update=next_update,
        revoked=frozenset(entry.serial_number for entry in crl),
    )
