"""configfs-tsm (Documentation/ABI/testing/configfs-tsm, Linux >= 6.7): TDX quotes and
SEV-SNP reports through files.

Protocol: ``mkdir report/<entry>``; write the 64-byte report data to ``inblob``; read
``outblob`` (the quote or report), ``provider`` (``tdx_guest`` / ``sev_guest``) and
``auxblob`` (SNP: the certificate table, may be empty); ``generation`` is read after our
write and again after reading ``outblob``: a different value means another writer changed
``inblob`` in between, and the blob is refused rather than returned for the wrong report
data. (Each process uses its own entry, so a race needs a second writer on that entry.)
``rmdir`` the entry at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from isthmus.tee.devices._common import check_report_data, device_failed
from isthmus.wire.tee import TeePlatform

TSM_REPORT = Path("sys/kernel/config/tsm/report")
PROVIDERS = {"tdx_guest": TeePlatform.TDX, "sev_guest": TeePlatform.SEV_SNP}
MAX_BLOB = 1 << 20


@dataclass
class ConfigfsTsmDevice:
    """A configfs-tsm report directory; ``platform`` from the provider seen at probe."""

    report_root: Path
    platform: str

    def new_entry(self) -> Path:
        """Create a fresh report entry (configfs fills in its attribute files)."""
        entry = self.report_root / f"isthmus-{os.getpid()}-{secrets.token_hex(4)}"
        entry.mkdir()
        return entry

    def remove_entry(self, entry: Path) -> None:
        entry.rmdir()

    def evidence(self, report_data: bytes) -> tuple[bytes, dict[str, str]]:
        data = check_report_data(report_data)
        try:
            entry = self.new_entry()
        except OSError as exc:
            raise device_failed("configfs-tsm", exc) from None
        try:
            outblob, provider, _aux = exchange(entry, data)
        finally:
            with contextlib.suppress(OSError):  # nothing secret is left in the entry
                self.remove_entry(entry)
        if PROVIDERS.get(provider) != self.platform:
            raise device_failed("configfs-tsm", f"provider changed to {provider!r}")
        return outblob, {}


def _read(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(MAX_BLOB + 1)


def exchange(entry: Path, report_data: bytes) -> tuple[bytes, str, bytes]:
    """One round on an existing entry: (outblob, provider, auxblob)."""
    try:
        with (entry / "inblob").open("wb") as fh:
            fh.write(report_data)
        before = _read(entry / "generation").strip()
        outblob = _read(entry / "outblob")
        provider = _read(entry / "provider").decode("ascii", "replace").strip()
        aux_path = entry / "auxblob"
        aux = _read(aux_path) if aux_path.exists() else b""
        after = _read(entry / "generation").strip()
    except OSError as exc:
        raise device_failed("configfs-tsm", exc) from None
    if len(outblob) > MAX_BLOB or not outblob:
        raise device_failed("configfs-tsm", f"outblob of {len(outblob)} bytes")
    if before != after or not before.isdigit():
        raise device_failed("configfs-tsm", "generation changed: another writer raced us")
    return outblob, provider, aux


def probe_configfs_tsm(root: Path) -> tuple[ConfigfsTsmDevice | None, list[Path]]:
    """Present when the report directory exists and a probe entry names a known provider."""
    report_root = root / TSM_REPORT
    if not report_root.is_dir():
        return None, [report_root]
    device = ConfigfsTsmDevice(report_root, platform="")
    try:
        entry = device.new_entry()
    except OSError:
        return None, [report_root]
    try:
        provider = _read(entry / "provider").decode("ascii", "replace").strip()
    except OSError:
        provider = ""
    finally:
        with contextlib.suppress(OSError):
            device.remove_entry(entry)
    platform = PROVIDERS.get(provider)
    if platform is None:
        return None, [report_root]
    device.platform = platform
    return device, [report_root]
