"""Hygon's fixed-layout certificates: the HSK (signed by the Hygon root key HRK) and the
CSV certificates CEK (signed by the HSK) and PEK (signed by the CEK).

They are not X.509: little-endian C structures from Hygon's CSV firmware interface. An
SM2 public key is a curve id, x and y as 72-byte fields of which the first 32 bytes hold
the coordinate little-endian, and a user ID (length u16 + bytes) that enters Z_A when the
key verifies; a signature is r and s in the same 72-byte little-endian form. Signatures
are SM2 with SM3 (GB/T 32918.2) over a fixed prefix of the certificate. Sizes are exact
(832 and 2084 bytes) and a field we rely on is range-checked, so a wrong buffer is
refused as malformed, never read past.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from isthmus.crypto import sm2
from isthmus.wire.errors import InvalidKey

HSK_SIZE: Final = 832
CSV_CERT_SIZE: Final = 2084
HSK_SIGNED: Final = 64 + 512  # header + public key area
CSV_SIGNED: Final = 16 + 1028  # header + public key area

USAGE_HSK: Final = 0x13
USAGE_INVALID: Final = 0x1000
USAGE_PEK: Final = 0x1002
USAGE_CEK: Final = 0x1004

HRK_USER_ID: Final = b"HYGON-SSD-HRK"
_FIELD: Final = 72
_COORDINATE: Final = 32
_UID_MAX: Final = 254


class HygonCertError(ValueError):
    """The bytes are not a Hygon certificate of the expected kind."""


@dataclass(frozen=True)
class HygonKey:
    point: sm2.Sm2Point
    user_id: bytes


def _coordinate(field: bytes) -> int:
    """The 32-byte little-endian value of a 72-byte field whose unused tail must be zero
    (otherwise bytes nothing checks could be changed freely)."""
    if any(field[_COORDINATE:_FIELD]):
        raise HygonCertError("the unused tail of a 72-byte SM2 field is not zero")
    return int.from_bytes(field[:_COORDINATE], "little")


def parse_key(area: bytes) -> HygonKey:
    """``curve_id u32 | qx[72] | qy[72] | uid_len u16 | uid[254]`` (the first 404 bytes)."""
    x = _coordinate(area[4 : 4 + _FIELD])
    y = _coordinate(area[4 + _FIELD : 4 + 2 * _FIELD])
    (uid_len,) = struct.unpack_from("<H", area, 4 + 2 * _FIELD)
    if uid_len > _UID_MAX:
        raise HygonCertError(f"SM2 user ID length {uid_len} exceeds {_UID_MAX}")
    start = 4 + 2 * _FIELD + 2
    try:
        point = sm2.Sm2Point(x, y)
    except InvalidKey:
        raise HygonCertError("the certified key is not a point of the SM2 curve") from None
    return HygonKey(point, bytes(area[start : start + uid_len]))


def parse_signature(area: bytes) -> bytes:
    """r[72] | s[72], little-endian, as the DER signature ``isthmus.crypto.sm2`` verifies."""
    return sm2.encode_signature(_coordinate(area[:_FIELD]), _coordinate(area[_FIELD:]))


def verify(key: HygonKey, message: bytes, signature: bytes) -> bool:
    return sm2.verify(key.point, message, signature, ident=key.user_id)


@dataclass(frozen=True)
class HskCert:
    raw: bytes
    version: int
    key_usage: int
    key: HygonKey
    signature: bytes

    @property
    def signed(self) -> bytes:
        return self.raw[:HSK_SIGNED]


@dataclass(frozen=True)
class CsvCert:
    raw: bytes
    version: int
    key_usage: int
    key: HygonKey
    sig1_usage: int
    signature1: bytes
    sig2_usage: int

    @property
    def signed(self) -> bytes:
        return self.raw[:CSV_SIGNED]


def parse_hsk(data: bytes) -> HskCert:
    raw = bytes(data)
    if len(raw) != HSK_SIZE:
        raise HygonCertError(f"an HSK certificate is {HSK_SIZE} bytes, got {len(raw)}")
    (version,) = struct.unpack_from("<I", raw, 0)
    (usage,) = struct.unpack_from("<I", raw, 36)
    return HskCert(
        raw=raw,
        version=version,
        key_usage=usage,
        key=parse_key(raw[64 : 64 + 404]),
        signature=parse_signature(raw[HSK_SIGNED : HSK_SIGNED + 2 * _FIELD]),
    )


def parse_csv_cert(data: bytes) -> CsvCert:
    raw = bytes(data)
    if len(raw) != CSV_CERT_SIZE:
        raise HygonCertError(f"a CSV certificate is {CSV_CERT_SIZE} bytes, got {len(raw)}")
    version, _, _, _, _, usage, _ = struct.unpack_from("<IBBBBII", raw, 0)
    sig1_usage, _ = struct.unpack_from("<II", raw, CSV_SIGNED)
    sig2_usage, _ = struct.unpack_from("<II", raw, CSV_SIGNED + 8 + 512)
    return CsvCert(
        raw=raw,
        version=version,
        key_usage=usage,
        key=parse_key(raw[16 : 16 + 404]),
        sig1_usage=sig1_usage,
        signature1=parse_signature(raw[CSV_SIGNED + 8 : CSV_SIGNED + 8 + 2 * _FIELD]),
        sig2_usage=sig2_usage,
    )
