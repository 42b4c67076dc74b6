"""The SEV-SNP ATTESTATION_REPORT (SNP firmware ABI, 0x4A0 bytes), parsed strictly.

Only what a verifier relies on is decoded, and only from layouts we know: report
versions 2, 3 and 5 share every field read here (3 adds CPUID family/model/stepping in
what was reserved space at 0x188, 5 adds mitigation vectors after LAUNCH_TCB); any other
version is refused rather than guessed at. The signed region is 0x000-0x29F and the
signature (ECDSA P-384 with SHA-384, algorithm 1, the only one AMD defines) sits at
0x2A0 as r then s, 72 bytes each, little-endian; the rest of the 512-byte signature field
is reserved and must be zero, so no byte of a report can change without a refusal.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import TeeReason

REPORT_SIZE: Final = 0x4A0
SIGNED_END: Final = 0x2A0
SUPPORTED_VERSIONS: Final = frozenset({2, 3, 5})
SIGNATURE_ECDSA_P384_SHA384: Final = 1
POLICY_DEBUG_BIT: Final = 19
SIGNING_KEY_VCEK: Final = 0
SIGNING_KEY_VLEK: Final = 1
_COMPONENT: Final = 72


@dataclass(frozen=True)
class SnpAttestationReport:
    raw: bytes
    version: int
    guest_svn: int
    policy: int
    family_id: bytes
    image_id: bytes
    vmpl: int
    signature_algorithm: int
    signer_info: int
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    reported_tcb: int
    chip_id: bytes
    signature_r: int
    signature_s: int

    @property
    def signed_bytes(self) -> bytes:
        return self.raw[:SIGNED_END]

    @property
    def debug_allowed(self) -> bool:
        return bool(self.policy >> POLICY_DEBUG_BIT & 1)

    @property
    def signing_key(self) -> int:
        """SIGNING_KEY (bits 4:2 at 0x48): 0 VCEK, 1 VLEK, 7 none; reserved and always 0
        (VCEK) in firmware that predates VLEK, so one rule covers every version."""
        return self.signer_info >> 2 & 0b111

    @property
    def chip_id_masked(self) -> bool:
        return bool(self.signer_info >> 1 & 1)

    @property
    def reported_tcb_bytes(self) -> bytes:
        return self.reported_tcb.to_bytes(8, "little")


def _le(data: bytes) -> int:
    return int.from_bytes(data, "little")


def parse_snp_report(data: bytes) -> SnpAttestationReport:
    """Raises ``TeeMalformed`` for the wrong size, ``TeeRefused(unsupported_version)`` for
    a version we do not know and for a signature algorithm other than ECDSA P-384."""
    raw = bytes(data)
    if len(raw) != REPORT_SIZE:
        raise TeeMalformed(
            f"an SEV-SNP report is {REPORT_SIZE} bytes, got {len(raw)}",
            details={"key": "b64_quote", "size": len(raw)},
        )
    version, guest_svn, policy = struct.unpack_from("<IIQ", raw, 0x00)
    if version not in SUPPORTED_VERSIONS:
        raise TeeRefused(
            f"SEV-SNP report version {version} is not supported (known: 2, 3, 5)",
            reason=TeeReason.UNSUPPORTED_VERSION,
            details={"version": version},
        )
    vmpl, algorithm = struct.unpack_from("<II", raw, 0x30)
    if algorithm != SIGNATURE_ECDSA_P384_SHA384:
        raise TeeRefused(
            f"SEV-SNP signature algorithm {algorithm} is not ECDSA P-384/SHA-384 (1)",
            reason=TeeReason.UNSUPPORTED_VERSION,
            details={"signature_algorithm": algorithm},
        )
    if any(raw[SIGNED_END + 2 * _COMPONENT :]):
        raise TeeMalformed(
            "the reserved tail of the SEV-SNP signature field is not zero",
            details={"key": "b64_quote"},
        )
    (signer_info,) = struct.unpack_from("<I", raw, 0x48)
    (reported_tcb,) = struct.unpack_from("<Q", raw, 0x180)
    return SnpAttestationReport(
        raw=raw,
        version=version,
        guest_svn=guest_svn,
        policy=policy,
        family_id=raw[0x10:0x20],
        image_id=raw[0x20:0x30],
        vmpl=vmpl,
        signature_algorithm=algorithm,
        signer_info=signer_info,
        report_data=raw[0x50:0x90],
        measurement=raw[0x90:0xC0],
        host_data=raw[0xC0:0xE0],
        id_key_digest=raw[0xE0:0x110],
        author_key_digest=raw[0x110:0x140],
        report_id=raw[0x140:0x160],
        reported_tcb=reported_tcb,
        chip_id=raw[0x1A0:0x1E0],
        signature_r=_le(raw[SIGNED_END : SIGNED_END + _COMPONENT]),
        signature_s=_le(raw[SIGNED_END + _COMPONENT : SIGNED_END + 2 * _COMPONENT]),
    )
