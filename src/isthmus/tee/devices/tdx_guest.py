"""``/dev/tdx_guest``: the TDREPORT through the TDX_CMD_GET_REPORT0 ioctl.

Constants and layout from include/uapi/linux/tdx-guest.h:
``struct tdx_report_req { __u8 reportdata[64]; __u8 tdreport[1024]; }`` and
``TDX_CMD_GET_REPORT0 = _IOWR('T', 1, struct tdx_report_req)``.

A TDREPORT is MAC-ed for the local platform only; a remotely verifiable quote needs the
TD Quoting Enclave, reached through the host's Quote Generation Service (QGS, over vsock
or the GetQuote TDVMCALL). With a kernel that has configfs-tsm the kernel does that
itself and :mod:`.configfs_tsm` is used instead; here :meth:`TdxGuestDevice.evidence`
refuses, naming what is missing, and :meth:`TdxGuestDevice.tdreport` gives the report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from isthmus.tee.devices._common import check_report_data, device_failed
from isthmus.tee.devices.sev_guest import iowr
from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import TeePlatform, TeeReason

DEVICES = (Path("dev/tdx_guest"), Path("dev/tdx-guest"))
REPORT_DATA_LEN = 64
TDREPORT_LEN = 1024
TDX_CMD_GET_REPORT0 = iowr("T", 1, REPORT_DATA_LEN + TDREPORT_LEN)


@dataclass
class TdxGuestDevice:
    path: Path
    platform: str = TeePlatform.TDX

    def tdreport(self, report_data: bytes) -> bytes:  # pragma: no cover - needs the device
        import fcntl

        request = bytearray(check_report_data(report_data) + bytes(TDREPORT_LEN))
        try:
            fd = os.open(self.path, os.O_RDWR)
            try:
                fcntl.ioctl(fd, TDX_CMD_GET_REPORT0, request, True)
            finally:
                os.close(fd)
        except OSError as exc:
            raise device_failed(str(self.path), exc) from None
        return bytes(request[REPORT_DATA_LEN:])

    def evidence(self, report_data: bytes) -> tuple[bytes, dict[str, str]]:
        check_report_data(report_data)
        raise TeeRefused(
            f"{self.path} gives a TDREPORT, which only the TD Quoting Enclave (through the "
            "host's QGS) turns into a quote; use a kernel with configfs-tsm "
            "(/sys/kernel/config/tsm/report) or Intel's quote library",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
            details={"device": str(self.path), "missing": "TDX quote generation service"},
        )


def probe_tdx_guest(root: Path) -> tuple[TdxGuestDevice | None, list[Path]]:
    paths = [root / p for p in DEVICES]
    for path in paths:
        if path.exists():
            return TdxGuestDevice(path), paths
    return None, paths
