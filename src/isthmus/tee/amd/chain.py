"""AMD endorsement chains: ARK -> ASK -> VCEK and ARK -> ASVK -> VLEK, to a pinned ARK key.

Trust comes from the ARK *public key* alone: a chain is accepted only when it ends at a
self-signed certificate whose SubjectPublicKeyInfo SHA-256 is one of the configured
anchors, so a forged ARK that copies AMD's name is refused (``chain_untrusted``). The
intermediate (ASK or ASVK) may come with the evidence or from the ASK/ARK bundles shipped
as package data (``anchors/``), which lets a report that carries only its VCEK verify;
shipped certificates add candidates, never trust. Every link is RSASSA-PSS with SHA-384,
MGF1-SHA-384 and a 48-byte salt, verified over the exact TBSCertificate bytes (AMD's
certificates have serial 0, see ``certs``). Each certificate must be valid at the
injected time. Verified links are remembered (bounded cache keyed by the exact bytes of
issuer and subject), so repeated reports only pay for the leaf.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Final, Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from isthmus.crypto import der
from isthmus.tee.amd.certs import (
    OID_RSASSA_PSS,
    Certificate,
    CertificateError,
    load_pem_certificates,
    parse_certificate,
)
from isthmus.wire.errors import InvalidKey, TeeMalformed, TeeRefused
from isthmus.wire.tee import TeeReason

PSS_SALT: Final = 48
BUNDLED: Final = ("ask_ark_milan.pem", "ask_ark_genoa.pem")
OID_BASIC_CONSTRAINTS: Final = "2.5.29.19"
EndorsementKind = Literal["VCEK", "VLEK"]


@dataclass(frozen=True)
class EndorsementChain:
    leaf: Certificate
    intermediate: Certificate
    root: Certificate
    product: str  # the anchor's name, e.g. "Milan"
    kind: EndorsementKind

    @property
    def valid_until(self) -> datetime:
        return min(c.not_after for c in (self.leaf, self.intermediate, self.root))

    def leaf_key(self) -> ec.EllipticCurvePublicKey:
        try:
            key = serialization.load_der_public_key(self.leaf.spki)
        except (ValueError, UnsupportedAlgorithm):
            raise _untrusted(f"the {self.kind} public key cannot be read") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
            raise _untrusted(f"the {self.kind} key is not ECDSA P-384")
        return key


def _untrusted(message: str, **details: object) -> TeeRefused:
    return TeeRefused(message, reason=TeeReason.CHAIN_UNTRUSTED, details=dict(details))


@functools.cache
def bundled_certificates() -> tuple[Certificate, ...]:
    """AMD's published ASK/ARK pairs for Milan and Genoa (see anchors/NOTICE)."""
    folder = resources.files("isthmus.tee.amd") / "anchors"
    found: list[Certificate] = []
    for name in BUNDLED:
        found.extend(load_pem_certificates((folder / name).read_bytes()))
    return tuple(found)


def pin_digest(value: bytes | str) -> bytes:
    """An anchor value as the SHA-256 of its SPKI: accepts the 32-byte digest, its hex,
    or the SPKI DER itself."""
    if isinstance(value, str):
        return bytes.fromhex(value)
    if len(value) == 32:
        return bytes(value)
    if len(value) == 64:
        try:
            return bytes.fromhex(value.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    return hashlib.sha256(value).digest()


@functools.lru_cache(maxsize=256)
def _signed_by(issuer_der: bytes, subject_der: bytes) -> bool:
    issuer, subject = parse_certificate(issuer_der), parse_certificate(subject_der)
    if subject.signature_algorithm != OID_RSASSA_PSS:
        return False
    try:
        key = serialization.load_der_public_key(issuer.spki)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    scheme = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=PSS_SALT)
    try:
        key.verify(subject.signature, subject.tbs, scheme, hashes.SHA384())
    except InvalidSignature:
        return False
    return True


def forget_verified_links() -> None:
    """Empty the cache of verified links, so the next verification checks every
    signature of its chain again (a cold verification, as benchmarks/tee.py measures)."""
    _signed_by.cache_clear()


def _is_ca(certificate: Certificate) -> bool:
    value = certificate.extensions.get(OID_BASIC_CONSTRAINTS)
    if value is None:
        return False
    try:
        fields = der.decode_sequence(value)
    except InvalidKey:
        return False
    return bool(fields) and fields[0] == (0x01, b"\xff")


def _check_window(name: str, certificate: Certificate, at: datetime) -> None:
    if at < certificate.not_before:
        raise TeeRefused(
            f"{name} certificate is not valid before {certificate.not_before.isoformat()}",
            reason=TeeReason.CERT_NOT_YET_VALID,
            details={"certificate": name, "not_before": certificate.not_before.isoformat()},
        )
    if at > certificate.not_after:
        raise TeeRefused(
            f"{name} certificate expired at {certificate.not_after.isoformat()}",
            reason=TeeReason.CERT_EXPIRED,
            details={"certificate": name, "not_after": certificate.not_after.isoformat()},
        )


def parse_endorsement(endorsement_der: bytes, key: str = "endorsement") -> Certificate:
    try:
        return parse_certificate(endorsement_der)
    except CertificateError as exc:
        raise TeeMalformed(f"VCEK/VLEK certificate: {exc}", details={"key": key}) from None


def parse_chain_pem(text: str, key: str = "pem_cert_chain") -> list[Certificate]:
    try:
        return load_pem_certificates(text)
    except CertificateError as exc:
        raise TeeMalformed(f"certificate chain: {exc}", details={"key": key}) from None


def verify_chain(
    leaf: Certificate,
    *,
    at: datetime,
    pins: dict[str, bytes],
    extra: list[Certificate],
) -> EndorsementChain:
    """The chain from ``leaf`` to a pinned ARK, or ``TeeRefused``.

    ``pins`` maps product name -> SPKI SHA-256 of its ARK. Raises ``chain_untrusted`` when
    no such chain exists, ``cert_expired``/``cert_not_yet_valid`` for a certificate of it
    outside its window at ``at``."""
    pool = [*extra, *bundled_certificates()]
    by_digest = {digest: product for product, digest in pins.items()}
    intermediates = [
        c for c in pool if c.subject == leaf.issuer and not c.self_issued and _is_ca(c)
    ]
    intermediate = next((c for c in intermediates if _signed_by(c.der, leaf.der)), None)
    if intermediate is None:
        raise _untrusted(
            f"no AMD signing key named {leaf.issuer_cn!r} signs this endorsement",
            issuer=leaf.issuer_cn,
        )
    roots = [
        c
        for c in pool
        if c.subject == intermediate.issuer
        and c.self_issued
        and _is_ca(c)
        and _signed_by(c.der, intermediate.der)
    ]
    root = next((c for c in roots if c.spki_sha256 in by_digest), None)
    if root is None:
        raise _untrusted(
            f"the chain ends at {intermediate.issuer_cn!r}, whose key is not a pinned AMD root",
            root=intermediate.issuer_cn,
        )
    if not _signed_by(root.der, root.der):
        raise _untrusted(f"{root.subject_cn!r} is not validly self-signed")
    product = by_digest[root.spki_sha256]
    name = intermediate.subject_cn
    kind: EndorsementKind = "VLEK" if name.startswith("SEV-VLEK-") else "VCEK"
    if name.removeprefix("SEV-VLEK-").removeprefix("SEV-") != product:
        raise _untrusted(f"{name!r} does not belong to the {product} root", product=product)
    for label, certificate in (
        ("ARK", root),
        ("ASVK" if kind == "VLEK" else "ASK", intermediate),
        (kind, leaf),
    ):
        _check_window(label, certificate, at)
    return EndorsementChain(leaf, intermediate, root, product, kind)
