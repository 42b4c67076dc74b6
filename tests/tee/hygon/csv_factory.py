"""Synthetic Hygon CSV evidence built with our own SM2: an HRK, an HSK it signs, a CEK the
HSK signs, a PEK the CEK signs, and a masked, signed, HMAC-sealed attestation report.

No public CSV vectors exist (no real report with its HSK/CEK is published), so the layout
here is written from the public structure definitions, independently of the verifier's
parser: a mistake shared by both would still be caught by nothing but real evidence.
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass, field

from isthmus.crypto import sm2

HRK_UID = b"HYGON-SSD-HRK"


@dataclass(frozen=True)
class Sm2Key:
    private: int
    uid: bytes

    @property
    def point(self) -> sm2.Sm2Point:
        return sm2.public_point(self.private)

    @property
    def anchor(self) -> bytes:
        return self.point.encode()


def new_key(uid: bytes) -> Sm2Key:
    return Sm2Key(sm2.generate_private_scalar(), uid)


def _field(value: int) -> bytes:
    return value.to_bytes(32, "little") + b"\0" * 40


def key_area(key: Sm2Key) -> bytes:
    point = key.point
    area = struct.pack("<I", 3) + _field(point.x) + _field(point.y)
    area += struct.pack("<H", len(key.uid)) + key.uid.ljust(254, b"\0")
    assert len(area) == 404
    return area


def sign(key: Sm2Key, message: bytes) -> bytes:
    r, s = sm2.decode_signature(sm2.sign(key.private, message, ident=key.uid))
    return _field(r) + _field(s)


def hsk_cert(hsk: Sm2Key, hrk: Sm2Key, *, usage: int = 0x13) -> bytes:
    head = struct.pack("<I", 1) + b"\x01" * 16 + b"\x02" * 16 + struct.pack("<I", usage)
    head += b"\0" * 24
    signed = head + key_area(hsk) + b"\0" * 108
    assert len(signed) == 576
    cert = signed + sign(hrk, signed) + b"\0" * 112
    assert len(cert) == 832
    return cert


def csv_cert(key: Sm2Key, signer: Sm2Key, *, usage: int, signer_usage: int) -> bytes:
    head = struct.pack("<IBBBBII", 1, 1, 2, 0, 0, usage, 3)
    signed = head + key_area(key) + b"\0" * 624
    assert len(signed) == 1044
    sig1 = struct.pack("<II", signer_usage, 3) + sign(signer, signed) + b"\0" * 368
    sig2 = struct.pack("<II", 0x1000, 0) + b"\0" * 512
    cert = signed + sig1 + sig2
    assert len(cert) == 2084
    return cert


def _mask(data: bytes, anonce: int) -> bytes:
    pad = struct.pack("<I", anonce) * (len(data) // 4)
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))


@dataclass(frozen=True)
class CsvEvidence:
    report: bytes
    hsk: bytes
    cek: bytes
    hrk: Sm2Key
    chip_id: str
    keys: dict[str, Sm2Key]


@dataclass(frozen=True)
class Fields:
    vm_id: bytes = b"\x0a" * 16
    vm_version: bytes = b"\x0b" * 16
    user_data: bytes = b"\x11" * 32 + b"\x22" * 32
    mnonce: bytes = b"\x5c" * 16
    measure: bytes = b"\x33" * 32
    policy: int = 0x1  # NODBG
    anonce: int = 0xA5C3_0F11
    chip_id: bytes = field(default=b"CSV-TEST-CHIP-0001".ljust(64, b"\0"))


def report(pek: Sm2Key, pek_cert: bytes, fields: Fields = Fields()) -> bytes:
    a = fields.anonce
    signed = (
        b"\x77" * 32
        + _mask(fields.vm_id, a)
        + _mask(fields.vm_version, a)
        + _mask(fields.user_data, a)
        + _mask(fields.mnonce, a)
        + _mask(fields.measure, a)
        + _mask(struct.pack("<I", fields.policy), a)
    )
    assert len(signed) == 180
    body = signed + struct.pack("<III", 0x1002, 3, a) + sign(pek, signed)
    body += _mask(pek_cert, a) + _mask(fields.chip_id, a) + b"\0" * 32
    assert len(body) == 2516
    body += hmac.new(fields.mnonce, body[336:2516], "sm3").digest()
    return body.ljust(4096, b"\0")


def evidence(fields: Fields = Fields()) -> CsvEvidence:
    hrk, hsk, cek, pek = (new_key(uid) for uid in (HRK_UID, b"HSK", b"CEK", b"PEK"))
    cek_cert = csv_cert(cek, hsk, usage=0x1004, signer_usage=0x13)
    pek_cert = csv_cert(pek, cek, usage=0x1002, signer_usage=0x1004)
    return CsvEvidence(
        report=report(pek, pek_cert, fields),
        hsk=hsk_cert(hsk, hrk),
        cek=cek_cert,
        hrk=hrk,
        chip_id=fields.chip_id.rstrip(b"\0").decode(),
        keys={"hsk": hsk, "cek": cek, "pek": pek},
    )
