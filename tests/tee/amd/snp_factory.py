"""Synthetic AMD chains and SEV-SNP reports for tests: RSA-2048 roots and signing keys
(AMD uses RSA-4096; 2048 keeps key generation fast), every link RSASSA-PSS SHA-384 with a
48-byte salt as AMD signs, and P-384 VCEK/VLEK keys that sign reports we build."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2034, 1, 1, tzinfo=UTC)
TCB = bytes([3, 0, 0, 0, 0, 0, 8, 0x73])  # bl 3, tee 0, snp 8, ucode 0x73
CHIP_ID = bytes(range(64))


def name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Advanced Micro Devices"),
        ]
    )


def _der_int(value: int) -> bytes:
    return bytes([0x02, 0x01, value]) if value < 0x80 else bytes([0x02, 0x02, 0, value])


def _ext(oid: str, value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value)


def certificate(
    subject: str,
    issuer: str,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    signer: rsa.RSAPrivateKey,
    *,
    ca: bool,
    extensions: list[x509.UnrecognizedExtension] = (),  # type: ignore[assignment]
    not_before: datetime = NOT_BEFORE,
    not_after: datetime = NOT_AFTER,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(public_key)
        .serial_number(1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=ca)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(signer, hashes.SHA384(), rsa_padding=PSS)


def endorsement_extensions(
    tcb: bytes, *, chip_id: bytes | None, product: str = "Milan-B0"
) -> list[x509.UnrecognizedExtension]:
    ia5 = product.encode()
    extensions = [
        _ext("1.3.6.1.4.1.3704.1.2", bytes([0x16, len(ia5)]) + ia5),
        _ext("1.3.6.1.4.1.3704.1.3.1", _der_int(tcb[0])),
        _ext("1.3.6.1.4.1.3704.1.3.2", _der_int(tcb[1])),
        _ext("1.3.6.1.4.1.3704.1.3.3", _der_int(tcb[6])),
        _ext("1.3.6.1.4.1.3704.1.3.8", _der_int(tcb[7])),
    ]
    if chip_id is not None:
        extensions.append(_ext("1.3.6.1.4.1.3704.1.4", chip_id))
    else:  # a VLEK names its cloud provider instead of a chip
        extensions.append(_ext("1.3.6.1.4.1.3704.1.5", b"\x16\x04test"))
    return extensions


def pem(*certificates: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def spki_sha256(certificate: x509.Certificate) -> str:
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def build_report(
    key: ec.EllipticCurvePrivateKey,
    *,
    signing_key: int = 0,
    tcb: bytes = TCB,
    chip_id: bytes = CHIP_ID,
    policy: int = 0x30000,
    report_data: bytes = b"\x11" * 64,
    version: int = 2,
) -> bytes:
    body = bytearray(0x4A0)
    struct.pack_into("<IIQ", body, 0, version, 7, policy)
    struct.pack_into("<II", body, 0x30, 0, 1)
    struct.pack_into("<I", body, 0x48, signing_key << 2)
    body[0x50:0x90] = report_data
    body[0x90:0xC0] = b"\x42" * 48
    body[0x180:0x188] = tcb
    body[0x1A0:0x1E0] = chip_id
    r, s = decode_dss_signature(key.sign(bytes(body[:0x2A0]), ec.ECDSA(hashes.SHA384())))
    body[0x2A0:0x2E8] = r.to_bytes(72, "little")
    body[0x2E8:0x330] = s.to_bytes(72, "little")
    return bytes(body)


@dataclass(frozen=True)
class SyntheticChain:
    ark: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey

    @property
    def anchor(self) -> dict[str, str]:
        return {"Milan": spki_sha256(self.ark)}


def synthetic_chain(*, vlek: bool = False, leaf_window: timedelta | None = None) -> SyntheticChain:
    """ARK-Milan -> SEV-Milan -> SEV-VCEK, or ARK-Milan -> SEV-VLEK-Milan -> SEV-VLEK,
    under test keys (so trusted only by a test anchor)."""
    ark_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    mid_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf_key = ec.generate_private_key(ec.SECP384R1())
    ark = certificate("ARK-Milan", "ARK-Milan", ark_key.public_key(), ark_key, ca=True)
    mid_name = "SEV-VLEK-Milan" if vlek else "SEV-Milan"
    intermediate = certificate(mid_name, "ARK-Milan", mid_key.public_key(), ark_key, ca=True)
    leaf = certificate(
        "SEV-VLEK" if vlek else "SEV-VCEK",
        mid_name,
        leaf_key.public_key(),
        mid_key,
        ca=False,
        extensions=endorsement_extensions(TCB, chip_id=None if vlek else CHIP_ID),
    )
    return SyntheticChain(ark, intermediate, leaf, leaf_key)
