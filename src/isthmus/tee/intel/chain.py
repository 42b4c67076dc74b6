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
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from isthmus.crypto import der
from isthmus.wire.errors import InvalidKey, TeeMalformed, TeeRefused
from isthmus.wire.tee import TeeReason

# Greedy is exact here: the class cannot match "-", so the body stops where END starts.
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*-----END CERTIFICATE-----")
_ECDSA_SHA256 = x509.oid.SignatureAlgorithmOID.ECDSA_WITH_SHA256
_ECDSA = ec.ECDSA(hashes.SHA256())  # immutable parameters, no key or input in it
_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"-----END CERTIFICATE-----"
_VERSION_TAG = 0xA0  # [0] EXPLICIT version of a TBSCertificate
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
        key.verify(encode_dss_signature(r, s), data, _ECDSA)
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
        key.verify(signature, tbs, _ECDSA)
    except InvalidSignature:
        return False
    return True


def cert_signed_by(cert: x509.Certificate, key: ec.EllipticCurvePublicKey) -> bool:
    return _signed_by(cert.tbs_certificate_bytes, cert.signature, cert.signature_algorithm_oid, key)


def tlv(data: bytes, at: int) -> tuple[int, bytes, int]:
    """One DER element at ``at``: a short-form length (minimal by definition) is read
    inline; any other form goes through :func:`der.decode_tlv` and its DER rules."""
    if at + 2 <= len(data):
        tag, size = data[at], data[at + 1]
        end = at + 2 + size
        if size < 0x80 and tag & 0x1F != 0x1F and end <= len(data):
            return tag, data[at + 2 : end], end
    return der.decode_tlv(data, at)


def _raw_names(tbs: bytes, *, crl: bool, what: str) -> tuple[bytes, bytes, bytes]:
    """(issuer, subject, SubjectPublicKeyInfo) content of a TBSCertificate, or
    (issuer, b"", b"") of a TBSCertList.
    Names are matched byte for byte, as the reference verifier (webpki) matches them:
    stricter than attribute-wise equality, and no Name objects are built to do it."""
    try:
        body = der.decode_single(tbs, der.SEQUENCE)
        tag, _, at = tlv(body, 0)
        if crl:  # [version INTEGER] signature issuer
            if tag == der.INTEGER:
                _, _, at = tlv(body, at)
            tag, issuer, at = tlv(body, at)
            if tag != der.SEQUENCE:
                raise InvalidKey("issuer is not a SEQUENCE")
            return issuer, b"", b""
        if tag == _VERSION_TAG:  # [0] version, then serialNumber
            _, _, at = tlv(body, at)
        _, _, at = tlv(body, at)  # signature
        itag, issuer, at = tlv(body, at)
        _, _, at = tlv(body, at)  # validity
        stag, subject, at = tlv(body, at)
        ktag, spki, at = tlv(body, at)
        if itag != der.SEQUENCE or stag != der.SEQUENCE or ktag != der.SEQUENCE:
            raise InvalidKey("issuer, subject or key is not a SEQUENCE")
        return issuer, subject, spki
    except (InvalidKey, IndexError) as exc:
        raise TeeMalformed(
            f"{what}: names do not decode ({exc})",
            details={"reason": TeeReason.MALFORMED, "field": what},
        ) from None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return bc.ca


@lru_cache(maxsize=8)
def pinned_key(root_point: bytes) -> tuple[ec.EllipticCurvePublicKey, bytes, bytes]:
    """The key object of a pinned root point, its 65-byte form and its SubjectPublicKeyInfo
    content: input-independent setup (the anchor is configuration, not evidence), the one
    thing kept between calls."""
    key = p256_key(root_point, "intel_root_public_key")
    spki = der.decode_single(
        key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo), der.SEQUENCE
    )
    return key, point_of(key), spki


class Scope:
    """The working set of ONE verification: each distinct PEM certificate parsed once,
    each key loaded once, and each (certificate, issuer) signature checked once - the
    root certificate, the PCK CA and the TCB signing certificate appear in several chains
    of one quote and its collateral. A Scope is made per call and dropped with it, so a
    later verification checks every signature again; nothing here is a cache."""

    __slots__ = (
        "_ca",
        "_certs",
        "_chains",
        "_der",
        "_keys",
        "_names",
        "_signed",
        "root_key",
        "root_point",
        "root_spki",
    )

    def __init__(self, root_point: bytes) -> None:
        self.root_key, self.root_point, self.root_spki = pinned_key(root_point)
        self._certs: dict[bytes, x509.Certificate] = {}
        self._chains: dict[bytes, tuple[x509.Certificate, ...]] = {}
        self._der: dict[int, tuple[x509.Certificate, bytes]] = {}
        # keyed by id(); the values hold the certificate so the id stays its own
        self._keys: dict[int, tuple[x509.Certificate, ec.EllipticCurvePublicKey]] = {}
        self._signed: dict[tuple[int, int], tuple[object, object]] = {}
        self._ca: dict[int, tuple[x509.Certificate, bool]] = {}
        # id(cert) -> (cert, tbs, issuer, subject, SubjectPublicKeyInfo)
        self._names: dict[int, tuple[x509.Certificate, bytes, bytes, bytes, bytes]] = {}

    def load_chain(self, pem: bytes | str, what: str) -> list[x509.Certificate]:
        data = pem.encode() if isinstance(pem, str) else pem
        known = self._chains.get(data)  # the QE identity chain is the TCB info chain
        if known is not None:
            return list(known)
        blocks = _PEM_CERT.findall(data)
        if not blocks or len(blocks) > MAX_CHAIN:
            raise TeeMalformed(
                f"{what}: expected 1..{MAX_CHAIN} PEM certificates, found {len(blocks)}",
                details={"reason": TeeReason.MALFORMED, "field": what},
            )
        certs = []
        for block in blocks:
            cert = self._certs.get(block)
            if cert is None:
                cert = self._load(block, what)
                self._certs[block] = cert
            certs.append(cert)
        self._chains[data] = tuple(certs)
        return certs

    def key(self, cert: x509.Certificate, what: str) -> ec.EllipticCurvePublicKey:
        hit = self._keys.get(id(cert))
        if hit is not None:
            return hit[1]
        # a certificate carrying the pinned key's exact SubjectPublicKeyInfo has that key
        key = self.root_key if self.has_root_key(cert, what) else cert_key(cert, what)
        self._keys[id(cert)] = (cert, key)
        return key

    def _load(self, block: bytes, what: str) -> x509.Certificate:
        """A PEM certificate block, decoded as strict base64 and parsed as DER: the DER
        is kept, so the TBS is cut from the bytes as received (``tbs_certificate_bytes``
        re-encodes it on every access)."""
        body = b"".join(block[len(_BEGIN) : -len(_END)].split())
        try:
            data = binascii.a2b_base64(body, strict_mode=True)
            cert = x509.load_der_x509_certificate(data)
        except (binascii.Error, ValueError) as exc:
            raise TeeMalformed(
                f"{what}: a certificate does not parse ({exc})",
                details={"reason": TeeReason.MALFORMED, "field": what},
            ) from None
        self._der[id(cert)] = (cert, data)
        return cert

    def _raw(
        self, cert: x509.Certificate, what: str
    ) -> tuple[x509.Certificate, bytes, bytes, bytes, bytes]:
        hit = self._names.get(id(cert))
        if hit is None:
            known = self._der.get(id(cert))
            tbs = first_element(known[1]) if known is not None else None
            if tbs is None:
                tbs = cert.tbs_certificate_bytes
            issuer, subject, spki = _raw_names(tbs, crl=False, what=what)
            hit = (cert, tbs, issuer, subject, spki)
            self._names[id(cert)] = hit
        return hit

    def names(self, cert: x509.Certificate, what: str) -> tuple[bytes, bytes]:
        """(issuer, subject) DER of ``cert``."""
        hit = self._raw(cert, what)
        return hit[2], hit[3]

    def has_root_key(self, cert: x509.Certificate, what: str) -> bool:
        """``cert``'s SubjectPublicKeyInfo is the pinned key's, byte for byte (then its
        key object is the pinned one; another encoding takes the decoding path)."""
        return self._raw(cert, what)[4] == self.root_spki

    def is_ca(self, cert: x509.Certificate) -> bool:
        hit = self._ca.get(id(cert))
        if hit is None:
            hit = (cert, _is_ca(cert))
            self._ca[id(cert)] = hit
        return hit[1]

    def signed_by(self, cert: x509.Certificate, key: ec.EllipticCurvePublicKey) -> bool:
        """``cert``'s signature under ``key``, checked once per pair in this call
        (only successes are remembered: a failure raises at once anyway)."""
        pair = (id(cert), id(key))
        if pair in self._signed:
            return True
        tbs = self._raw(cert, "certificate")[1]
        if not _signed_by(tbs, cert.signature, cert.signature_algorithm_oid, key):
            return False
        self._signed[pair] = (cert, key)
        return True


def verify_chain(
    certs: Sequence[x509.Certificate], root_point: bytes, what: str, scope: Scope | None = None
) -> None:
    """Each certificate signed by the next; the last one either *is* the pinned root
    (its key equals the pin and it signs itself) or is signed by the pinned key."""
    if scope is None or pinned_key(root_point)[1] != scope.root_point:
        scope = Scope(root_point)
    root_key = scope.root_key
    for i, cert in enumerate(certs):
        if i + 1 < len(certs):
            issuer = certs[i + 1]
            if scope.names(cert, what)[0] != scope.names(issuer, what)[1] or not scope.is_ca(
                issuer
            ):
                raise _refuse(
                    TeeReason.CHAIN_UNTRUSTED,
                    f"{what}: certificate {i} is not issued by the next one",
                )
            if not scope.signed_by(cert, scope.key(issuer, what)):
                raise _refuse(
                    TeeReason.CHAIN_UNTRUSTED,
                    f"{what}: signature of certificate {i} does not verify",
                )
            continue
        if scope.has_root_key(cert, what) or point_of(scope.key(cert, what)) == scope.root_point:
            if not scope.signed_by(cert, root_key):
                raise _refuse(TeeReason.CHAIN_UNTRUSTED, f"{what}: root self-signature fails")
        elif not scope.signed_by(cert, root_key):
            raise _refuse(
                TeeReason.CHAIN_UNTRUSTED,
                f"{what}: the chain does not end at the pinned Intel root key",
            )


class Revocations:
    """Membership in a verified CRL's revoked list, looked up in the CRL itself (no
    Python-side copy of every entry; a PCS CRL can list thousands)."""

    __slots__ = ("_crl",)

    def __init__(self, crl: x509.CertificateRevocationList) -> None:
        self._crl = crl

    def __contains__(self, serial: object) -> bool:
        if not isinstance(serial, int):
            return False
        return self._crl.get_revoked_certificate_by_serial_number(serial) is not None


@dataclass(frozen=True)
class VerifiedCrl:
    this_update: datetime
    next_update: datetime
    revoked: Revocations


def load_crl(text: str | bytes, what: str) -> x509.CertificateRevocationList:
    """A CRL given as hex of DER (dcap-qvl, UAR), PEM, base64 DER, or raw DER bytes."""
    return load_crl_der(text, what)[0]


def load_crl_der(
    text: str | bytes, what: str
) -> tuple[x509.CertificateRevocationList, bytes | None]:
    """:func:`load_crl` and the DER it was read from (None for PEM)."""
    der: bytes | None = None
    if isinstance(text, bytes) and text[:1] == b"\x30":
        der = text
    else:
        s = text.decode("ascii", "replace") if isinstance(text, bytes) else text
        s = s.strip()
        if "-----BEGIN" in s:
            try:
                return x509.load_pem_x509_crl(s.encode()), None
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
            return x509.load_der_x509_crl(der), der
        except ValueError:
            pass
    raise TeeMalformed(
        f"{what} is not a DER/PEM CRL", details={"reason": TeeReason.MALFORMED, "field": what}
    )


def first_element(data: bytes) -> bytes | None:
    """The first element (tag, length and content) inside the one DER element ``data``:
    a CRL's TBSCertList exactly as received, where ``tbs_certlist_bytes`` re-encodes the
    whole revoked list on every access. None when ``data`` is not a single element."""
    try:
        content = der.decode_single(data, der.SEQUENCE)
        _, _, end = tlv(content, 0)
    except InvalidKey:
        return None
    return content[:end]


def verify_crl(
    crl: x509.CertificateRevocationList,
    issuer: x509.Certificate,
    what: str,
    scope: Scope,
    crl_der: bytes | None = None,
) -> VerifiedCrl:
    """The CRL is issued (name) and signed (key) by ``issuer``; it has a nextUpdate.
    ``crl_der``: the DER ``crl`` was loaded from (its TBS is then cut out, not rebuilt)."""
    tbs = first_element(crl_der) if crl_der is not None else None
    if tbs is None:
        tbs = crl.tbs_certlist_bytes
    if _raw_names(tbs, crl=True, what=what)[0] != scope.names(issuer, what)[1]:
        raise _refuse(
            TeeReason.COLLATERAL_MISMATCH,
            f"{what} is issued by {crl.issuer.rfc4514_string()}, "
            f"not {issuer.subject.rfc4514_string()}",
        )
    if not _signed_by(tbs, crl.signature, crl.signature_algorithm_oid, scope.key(issuer, what)):
        raise _refuse(TeeReason.CRL_INVALID, f"{what}: signature does not verify")
    next_update = crl.next_update_utc
    if next_update is None:
        raise _refuse(TeeReason.CRL_INVALID, f"{what} has no nextUpdate")
    return VerifiedCrl(
        this_update=crl.last_update_utc,
        next_update=next_update,
        revoked=Revocations(crl),
    )
