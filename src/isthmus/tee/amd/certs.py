"""The few X.509 fields an AMD endorsement chain needs, read with our strict DER reader.

AMD's VCEK and VLEK certificates carry serial number 0, which RFC 5280 forbids and which
``cryptography`` already warns about and announces it will refuse. Attestation must not
break on a library upgrade, so certificates are read here: the exact to-be-signed bytes
(the signature covers them as they are, never a re-encoding), issuer and subject as raw
DER (chains link by byte equality of names, as RFC 5280 §7.1 allows for identical
encodings), the validity window, the SubjectPublicKeyInfo (handed to ``cryptography``,
which loads keys fine) and the extensions. Anything else in the certificate is ignored
but must still be well-formed DER; a malformed certificate raises ``CertificateError``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from isthmus.crypto import der
from isthmus.wire.errors import InvalidKey

OID_RSASSA_PSS = "1.2.840.113549.1.1.10"
OID_ECDSA_SHA384 = "1.2.840.10045.4.3.3"
OID_COMMON_NAME = "2.5.4.3"

_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18
_VERSION_TAG = 0xA0
_EXTENSIONS_TAG = 0xA3
_BOOLEAN = 0x01
_SET = 0x31


class CertificateError(ValueError):
    """The bytes are not a certificate this reader accepts."""


@dataclass(frozen=True)
class Certificate:
    der: bytes
    tbs: bytes  # the complete TBSCertificate element, the bytes the issuer signed
    signature_algorithm: str
    signature: bytes
    serial: int
    issuer: bytes  # raw DER Name
    subject: bytes
    not_before: datetime
    not_after: datetime
    spki: bytes  # SubjectPublicKeyInfo DER
    extensions: dict[str, bytes]  # OID -> extnValue content

    @property
    def spki_sha256(self) -> bytes:
        return hashlib.sha256(self.spki).digest()

    @property
    def self_issued(self) -> bool:
        return self.issuer == self.subject

    @property
    def subject_cn(self) -> str:
        return common_name(self.subject)

    @property
    def issuer_cn(self) -> str:
        return common_name(self.issuer)


def _tlv(data: bytes, offset: int) -> tuple[int, bytes, int, int]:
    """(tag, content, start, end) of the element at ``offset``."""
    tag, content, end = der.decode_tlv(data, offset)
    return tag, content, offset, end


def _time(tag: int, content: bytes) -> datetime:
    try:
        text = content.decode("ascii")
        if tag == _UTC_TIME and len(text) == 13 and text.endswith("Z"):
            parsed = datetime.strptime(text[:-1], "%y%m%d%H%M%S")
            # RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, else 20YY.
            if parsed.year >= 2050:
                parsed = parsed.replace(year=parsed.year - 100)
        elif tag == _GENERALIZED_TIME and len(text) == 15 and text.endswith("Z"):
            parsed = datetime.strptime(text[:-1], "%Y%m%d%H%M%S")
        else:
            raise CertificateError("certificate time is not UTCTime/GeneralizedTime in Z form")
    except (UnicodeDecodeError, ValueError) as exc:
        raise CertificateError(f"certificate time is malformed: {exc}") from None
    return parsed.replace(tzinfo=UTC)


def _extensions(content: bytes) -> dict[str, bytes]:
    result: dict[str, bytes] = {}
    for tag, extension in der.decode_children(der.decode_single(content, der.SEQUENCE)):
        fields = der.decode_children(extension)
        if (
            tag != der.SEQUENCE
            or not 2 <= len(fields) <= 3
            or fields[0][0] != der.OBJECT_IDENTIFIER
        ):
            raise CertificateError("malformed extension")
        oid = der.decode_oid(fields[0][1])
        if len(fields) == 3 and fields[1][0] != _BOOLEAN:
            raise CertificateError("malformed extension criticality")
        if fields[-1][0] != der.OCTET_STRING or oid in result:
            raise CertificateError("malformed or repeated extension")
        result[oid] = fields[-1][1]
    return result


def _algorithm(content: bytes) -> str:
    fields = der.decode_children(content)
    if not fields or fields[0][0] != der.OBJECT_IDENTIFIER:
        raise CertificateError("malformed AlgorithmIdentifier")
    return der.decode_oid(fields[0][1])


def parse_certificate(data: bytes) -> Certificate:
    try:
        return _parse(bytes(data))
    except InvalidKey as exc:  # the DER reader's error type
        raise CertificateError(f"not a DER certificate: {exc}") from None


def _parse(data: bytes) -> Certificate:
    outer = der.decode_sequence(data)
    if len(outer) != 3 or [tag for tag, _ in outer] != [der.SEQUENCE, der.SEQUENCE, der.BIT_STRING]:
        raise CertificateError("not a Certificate SEQUENCE { tbs, algorithm, signature }")
    body = der.decode_single(data, der.SEQUENCE)
    _, tbs_content, start, end = _tlv(body, 0)
    tbs = body[start:end]
    offset = 0
    tag, content, _, offset = _tlv(tbs_content, offset)
    if tag == _VERSION_TAG:
        tag, content, _, offset = _tlv(tbs_content, offset)
    if tag != der.INTEGER:
        raise CertificateError("missing serial number")
    serial = der.decode_integer(content)
    tag, inner_algorithm, _, offset = _tlv(tbs_content, offset)
    tag_issuer, _, issuer_start, offset = _tlv(tbs_content, offset)
    issuer = tbs_content[issuer_start:offset]
    tag_validity, validity, _, offset = _tlv(tbs_content, offset)
    tag_subject, _, subject_start, offset = _tlv(tbs_content, offset)
    subject = tbs_content[subject_start:offset]
    tag_spki, _, spki_start, offset = _tlv(tbs_content, offset)
    spki = tbs_content[spki_start:offset]
    if any(t != der.SEQUENCE for t in (tag, tag_issuer, tag_validity, tag_subject, tag_spki)):
        raise CertificateError("TBSCertificate fields are out of shape")
    times = der.decode_children(validity)
    if len(times) != 2:
        raise CertificateError("validity is not { notBefore, notAfter }")
    extensions: dict[str, bytes] = {}
    while offset < len(tbs_content):
        tag, content, _, offset = _tlv(tbs_content, offset)
        if tag == _EXTENSIONS_TAG:
            extensions = _extensions(content)
    signature_algorithm = _algorithm(outer[1][1])
    # RFC 5280 §4.1.1.2: the unsigned outer identifier must repeat the signed one exactly
    # (parameters included), so no byte of a certificate is free to change.
    if inner_algorithm != outer[1][1]:
        raise CertificateError("inner and outer signature algorithms differ")
    return Certificate(
        der=data,
        tbs=tbs,
        signature_algorithm=signature_algorithm,
        signature=der.decode_bit_string(outer[2][1]),
        serial=serial,
        issuer=issuer,
        subject=subject,
        not_before=_time(*times[0]),
        not_after=_time(*times[1]),
        spki=spki,
        extensions=extensions,
    )


def common_name(name: bytes) -> str:
    """The first CN of a DER Name, or "" (AMD names always carry one)."""
    try:
        for tag, rdn in der.decode_sequence(name):
            if tag != _SET:
                continue
            for _, attribute in der.decode_children(rdn):
                fields = der.decode_children(attribute)
                if len(fields) == 2 and der.decode_oid(fields[0][1]) == OID_COMMON_NAME:
                    return fields[1][1].decode("utf-8", errors="replace")
    except InvalidKey:
        return ""
    return ""


def load_pem_certificates(text: str | bytes) -> list[Certificate]:
    """Every ``CERTIFICATE`` block of a PEM bundle, in order."""
    data = text.encode("ascii", errors="replace") if isinstance(text, str) else bytes(text)
    marker = b"-----BEGIN CERTIFICATE-----"
    certificates: list[Certificate] = []
    for chunk in data.split(marker)[1:]:
        try:
            label, body = der.pem_decode(marker + chunk)
        except InvalidKey as exc:
            raise CertificateError(f"malformed PEM certificate: {exc}") from None
        if label != "CERTIFICATE":
            raise CertificateError(f"PEM label {label!r} is not CERTIFICATE")
        certificates.append(parse_certificate(body))
    return certificates
