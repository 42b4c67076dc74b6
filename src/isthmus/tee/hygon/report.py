"""The Hygon CSV attestation report (4096 bytes), parsed and un-masked.

The firmware XORs several fields with ``anonce`` (a u32 at 188, applied to every
little-endian u32 word): VM_ID, VM_VERSION, USER_DATA, MNONCE, MEASURE, POLICY and the
PEK certificate plus CHIP_ID. The SM2 signature covers bytes 0-179 *as masked*; the PEK
certificate and CHIP_ID are outside it and protected only by an SM3-HMAC (bytes
2516-2547) over bytes 336-2515 keyed with the un-masked MNONCE. That key is in the report,
so the HMAC detects corruption, not forgery: the PEK is authenticated by its CEK
signature, and CHIP_ID is not authenticated at all (we do not publish it as an attribute).
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass
from typing import Final

REPORT_SIZE: Final = 4096
SIGNED_END: Final = 180
SIGNATURE: Final = slice(192, 192 + 144)
PEK: Final = slice(336, 336 + 2084)
CHIP_ID: Final = slice(2420, 2420 + 64)
HMAC_DATA: Final = slice(336, 2516)
HMAC_VALUE: Final = slice(2516, 2548)
POLICY_NODBG_BIT: Final = 0


def unmask(data: bytes, anonce: int) -> bytes:
    """XOR every little-endian u32 word of ``data`` with ``anonce`` (len % 4 == 0)."""
    key = anonce.to_bytes(4, "little") * (len(data) // 4)
    return bytes(a ^ b for a, b in zip(data, key, strict=True))


@dataclass(frozen=True)
class CsvAttestationReport:
    raw: bytes
    anonce: int
    user_pubkey_digest: bytes
    vm_id: bytes
    vm_version: bytes
    user_data: bytes
    mnonce: bytes
    measure: bytes
    policy_bytes: bytes
    sig_usage: int
    sig_algo: int
    signature_area: bytes
    pek_cert: bytes
    chip_id: bytes

    @property
    def signed_bytes(self) -> bytes:
        return self.raw[:SIGNED_END]

    @property
    def policy(self) -> int:
        return int.from_bytes(self.policy_bytes, "little")

    @property
    def debug_disabled(self) -> bool:
        return bool(self.policy >> POLICY_NODBG_BIT & 1)

    def hmac_ok(self) -> bool:
        expected = hmac.new(self.mnonce, self.raw[HMAC_DATA], "sm3").digest()
        return hmac.compare_digest(expected, self.raw[HMAC_VALUE])


class CsvReportError(ValueError):
    """The bytes are not a CSV attestation report."""


def parse_csv_report(data: bytes) -> CsvAttestationReport:
    raw = bytes(data)
    if len(raw) != REPORT_SIZE:
        raise CsvReportError(f"a CSV attestation report is {REPORT_SIZE} bytes, got {len(raw)}")
    sig_usage, sig_algo, anonce = struct.unpack_from("<III", raw, 180)
    return CsvAttestationReport(
        raw=raw,
        anonce=anonce,
        user_pubkey_digest=raw[0:32],
        vm_id=unmask(raw[32:48], anonce),
        vm_version=unmask(raw[48:64], anonce),
        user_data=unmask(raw[64:128], anonce),
        mnonce=unmask(raw[128:144], anonce),
        measure=unmask(raw[144:176], anonce),
        policy_bytes=unmask(raw[176:180], anonce),
        sig_usage=sig_usage,
        sig_algo=sig_algo,
        signature_area=raw[SIGNATURE],
        pek_cert=unmask(raw[PEK], anonce),
        chip_id=unmask(raw[CHIP_ID], anonce),
    )
