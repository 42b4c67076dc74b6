"""``/dev/sev-guest``: the SEV-SNP attestation report through the SNP_GET_REPORT ioctl.

Constants and layouts from include/uapi/linux/sev-guest.h:

* ``struct snp_report_req { __u8 user_data[64]; __u32 vmpl; __u8 rsvd[28]; }`` (96 B);
* ``struct snp_report_resp { __u8 data[4000]; }``;
* ``struct snp_guest_request_ioctl { __u8 msg_version; __u64 req_data; __u64 resp_data;
  union { __u64 exitinfo2; ... }; }`` (32 B with the u8's padding);
* ``SNP_GET_REPORT = _IOWR('S', 0x0, struct snp_guest_request_ioctl)``.

The response body is the firmware's MSG_REPORT_RSP (SEV-SNP ABI): ``status`` u32,
``report_size`` u32, 24 reserved bytes, then the report (1184 bytes for v2/v3).
SNP_GET_EXT_REPORT (nr 2) would add the VCEK certificate table; we take the plain report
and let the verifier find the VCEK in the operator's collateral directory.
"""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from isthmus.tee.devices._common import check_report_data, device_failed
from isthmus.wire.tee import TeePlatform

DEVICE = Path("dev/sev-guest")
_IOC_WRITE_READ = 3


def iowr(kind: str, number: int, size: int) -> int:
    """Linux ``_IOWR(type, nr, size)`` (asm-generic/ioctl.h: dir 2 bits, size 14, type 8,
    nr 8)."""
    return (_IOC_WRITE_READ << 30) | (size << 16) | (ord(kind) << 8) | number


GUEST_REQUEST_FORMAT = "<B7xQQQ"  # msg_version, req_data, resp_data, exitinfo2
SNP_GET_REPORT = iowr("S", 0x0, struct.calcsize(GUEST_REQUEST_FORMAT))
SNP_GET_EXT_REPORT = iowr("S", 0x2, struct.calcsize(GUEST_REQUEST_FORMAT))
REPORT_REQUEST_SIZE = 96
RESPONSE_SIZE = 4000
MSG_VERSION = 1


def report_request(report_data: bytes, vmpl: int = 0) -> bytes:
    """``struct snp_report_req`` for ``report_data`` at ``vmpl``."""
    return check_report_data(report_data) + struct.pack("<I", vmpl) + bytes(28)


def parse_report_response(data: bytes) -> bytes:
    """The report out of MSG_REPORT_RSP; a firmware status is a refusal."""
    if len(data) < 0x20:
        raise device_failed("/dev/sev-guest", "response shorter than its header")
    status, size = struct.unpack_from("<II", data)
    if status != 0:
        raise device_failed("/dev/sev-guest", f"firmware status {status:#x}")
    if size == 0 or 0x20 + size > len(data):
        raise device_failed("/dev/sev-guest", f"report size {size} out of range")
    return bytes(data[0x20 : 0x20 + size])


@dataclass
class SevGuestDevice:
    path: Path
    vmpl: int = 0
    platform: str = TeePlatform.SEV_SNP

    def evidence(self, report_data: bytes) -> tuple[bytes, dict[str, str]]:  # pragma: no cover
        import fcntl  # needs the device: not exercised on machines without SEV-SNP

        request = ctypes.create_string_buffer(report_request(report_data, self.vmpl))
        response = ctypes.create_string_buffer(RESPONSE_SIZE)
        ioctl_arg = bytearray(
            struct.pack(
                GUEST_REQUEST_FORMAT,
                MSG_VERSION,
                ctypes.addressof(request),
                ctypes.addressof(response),
                0,
            )
        )
        try:
            fd = os.open(self.path, os.O_RDWR)
            try:
                fcntl.ioctl(fd, SNP_GET_REPORT, ioctl_arg, True)
            finally:
                os.close(fd)
        except OSError as exc:
            raise device_failed("/dev/sev-guest", exc) from None
        return parse_report_response(response.raw), {}


def probe_sev_guest(root: Path) -> tuple[SevGuestDevice | None, list[Path]]:
    path = root / DEVICE
    return (SevGuestDevice(path) if path.exists() else None), [path]
