"""Kunpeng (Huawei iTrustee TA reports, as UAL's ``kunpengsecl`` reads them): parse the
report, map its attributes, and say plainly what cannot be verified offline.

Layout (packed, little-endian; UAL ``verification/platforms/kunpeng``)::

    version u32 | ts u64 | nonce[64] | TA uuid[16] | scenario u32 | param_count u32
    params[param_count] of { tag u32, union { integer u32 | { len u32, offset u32 } } }
    ... buffers the BYTES params point into (TA image hash, TA memory hash, reserved,
        the AK's signature over the report, the AK certificate)

A param's tag has its type in the top 4 bits (1 = integer, 2 = bytes). Checked here:
every count, offset and length lies inside the report (a blob that points outside is
:class:`TeeMalformed`), at most one of each known tag. Mapped: ``hex_ta_measurement`` =
TA image hash, ``hex_ta_dyn_measurement`` = TA memory hash, ``hex_nonce`` /
``hex_user_data`` = nonce[0:32], ``hex_platform_sw_version`` = version (u32, LE bytes as
UAL does). The public-key binding is undefined for Kunpeng (digest §6), so
``hex_hash_or_pem_pubkey`` stays empty and a policy with a key refuses (``key_binding``).

Not verifiable offline: the AK signature over the report and the AK certificate's chain
to Huawei's device root (the DRK/AK scheme needs Huawei's attestation service or its
root, neither published for offline use). Both are listed in ``Verified.unverified``, so
a policy refuses every Kunpeng verdict with ``unverifiable_offline``. There are no public
Kunpeng test vectors; the tests use synthetic reports.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from isthmus.tee.verdict import Verified, VerifyContext
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    KunpengReport,
    TeePlatform,
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationReport,
    b64_bytes,
    parse_body,
)

HEADER = struct.Struct("<IQ64s16sII")  # version, ts, nonce, uuid, scenario, param_count
PARAM = struct.Struct("<III")  # tag, then integer (+pad) or len, offset
RA_INTEGER = 1 << 28
RA_BYTES = 2 << 28
TAG_TA_IMG_HASH = RA_BYTES | 1
TAG_TA_MEM_HASH = RA_BYTES | 3
TAG_SIGN_AK = RA_BYTES | 7
TAG_CERT_AK = RA_BYTES | 9
MAX_PARAMS = 64
MAX_REPORT = 64 * 1024
UNVERIFIED = ("report_signature", "ak_certificate_chain")


@dataclass(frozen=True)
class KunpengTaReport:
    version: int
    timestamp: int
    nonce: bytes
    uuid: bytes
    scenario: int
    integers: dict[int, int]
    blobs: dict[int, bytes]


def _malformed(why: str) -> TeeMalformed:
    return TeeMalformed(f"Kunpeng report: {why}", details={"key": "b64_quote"})


def parse_report(data: bytes) -> KunpengTaReport:
    """Parse and bounds-check a report."""
    if len(data) > MAX_REPORT:
        raise _malformed(f"{len(data)} bytes is more than {MAX_REPORT}")
    if len(data) < HEADER.size:
        raise _malformed(f"{len(data)} bytes is shorter than the {HEADER.size}-byte header")
    version, ts, nonce, uuid, scenario, count = HEADER.unpack_from(data)
    if count > MAX_PARAMS or HEADER.size + count * PARAM.size > len(data):
        raise _malformed(f"param_count {count} does not fit the report")
    integers: dict[int, int] = {}
    blobs: dict[int, bytes] = {}
    for index in range(count):
        tag, first, second = PARAM.unpack_from(data, HEADER.size + index * PARAM.size)
        if tag in integers or tag in blobs:
            raise _malformed(f"tag {tag:#x} appears twice")
        kind = tag & 0xF0000000
        if kind == RA_INTEGER:
            integers[tag] = first
        elif kind == RA_BYTES:
            length, offset = first, second
            if offset + length > len(data):
                raise _malformed(f"tag {tag:#x}: blob {offset}+{length} is outside the report")
            blobs[tag] = data[offset : offset + length]
        else:
            raise _malformed(f"tag {tag:#x} has an unknown type")
    return KunpengTaReport(version, ts, nonce, uuid, scenario, integers, blobs)


def attributes(report: KunpengTaReport) -> UnifiedAttestationAttributes:
    user = report.nonce[0:32].hex().upper()
    return UnifiedAttestationAttributes(
        str_tee_platform=TeePlatform.KUNPENG,
        hex_platform_sw_version=struct.pack("<I", report.version).hex().upper(),
        hex_ta_measurement=report.blobs.get(TAG_TA_IMG_HASH, b"").hex().upper(),
        hex_ta_dyn_measurement=report.blobs.get(TAG_TA_MEM_HASH, b"").hex().upper(),
        hex_user_data=user,
        hex_nonce=user,
    )


def verify_kunpeng(report: UnifiedAttestationReport, context: VerifyContext) -> Verified:
    """Parse and map; the signature and its chain are listed in ``unverified``."""
    del context
    body = parse_body(report)
    if not isinstance(body, KunpengReport):
        raise TeeRefused(
            f"not a Kunpeng report: {report.str_tee_platform[:40]}",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
        )
    raw = b64_bytes("b64_quote", body.b64_quote)
    parsed = parse_report(raw)
    if TAG_SIGN_AK not in parsed.blobs:
        raise _malformed("no AK signature (tag SIGN_AK)")
    return Verified(
        platform=TeePlatform.KUNPENG,
        attributes=attributes(parsed),
        tcb_status="Unverified",
        evidence=raw,
        unverified=UNVERIFIED,
    )
