"""Generation back-ends: the TEE interfaces a node inside a confidential VM or enclave
asks for evidence over 64 bytes of report data.

:func:`detect` tries, in order, and returns the first that is present:

1. configfs-tsm (``/sys/kernel/config/tsm/report``, Linux >= 6.7): one file protocol for
   TDX quotes and SEV-SNP reports (:mod:`.configfs_tsm`);
2. ``/dev/sev-guest`` (SNP_GET_REPORT ioctl, :mod:`.sev_guest`);
3. ``/dev/tdx_guest`` (TDX_CMD_GET_REPORT0 ioctl: a TDREPORT, which only becomes a quote
   through the TD Quoting service; :mod:`.tdx_guest` says so instead of pretending);
4. Gramine's ``/dev/attestation`` pseudo-files (SGX DCAP quotes, :mod:`.gramine`).

None present: :class:`TeeRefused` (``unsupported_platform``) naming every path looked
at. Nothing here is exercised on a machine without the hardware except through the
injectable ``root`` (tests lay out the files under a temporary directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from isthmus.tee.devices.configfs_tsm import ConfigfsTsmDevice, probe_configfs_tsm
from isthmus.tee.devices.gramine import GramineDevice, probe_gramine
from isthmus.tee.devices.sev_guest import SevGuestDevice, probe_sev_guest
from isthmus.tee.devices.tdx_guest import TdxGuestDevice, probe_tdx_guest
from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import TeeReason

__all__ = [
    "ConfigfsTsmDevice",
    "Device",
    "GramineDevice",
    "SevGuestDevice",
    "TdxGuestDevice",
    "detect",
]


class Device(Protocol):
    """What ``isthmus.tee.uai`` needs of a back-end (the same shape as its Device)."""

    platform: str

    def evidence(self, report_data: bytes) -> tuple[bytes, dict[str, str]]: ...


def detect(root: Path = Path("/")) -> Device:
    """The first TEE interface present under ``root`` (see the module for the order)."""
    looked: list[str] = []
    for probe in (probe_configfs_tsm, probe_sev_guest, probe_tdx_guest, probe_gramine):
        device, paths = probe(root)
        looked.extend(str(p) for p in paths)
        if device is not None:
            return device
    raise TeeRefused(
        f"no TEE device on this machine: looked for {', '.join(looked)}",
        reason=TeeReason.UNSUPPORTED_PLATFORM,
        details={"looked_for": looked},
    )
