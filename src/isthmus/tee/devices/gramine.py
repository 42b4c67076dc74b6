"""Gramine's ``/dev/attestation`` pseudo-files (SGX enclaves under Gramine).

Protocol: write the 64 bytes of report data to ``user_report_data``, then read
``quote`` (an SGX quote over them, DCAP v3 or EPID); ``attestation_type`` says which
(``dcap``, ``epid`` or ``none``). Only DCAP quotes are verifiable offline; EPID and
``none`` are refused at probe time with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from isthmus.tee.devices._common import check_report_data, device_failed
from isthmus.wire.tee import TeePlatform

ATTESTATION = Path("dev/attestation")
MAX_QUOTE = 64 * 1024


@dataclass
class GramineDevice:
    directory: Path
    platform: str = TeePlatform.SGX_DCAP

    def evidence(self, report_data: bytes) -> tuple[bytes, dict[str, str]]:
        data = check_report_data(report_data)
        try:
            with (self.directory / "user_report_data").open("wb") as fh:
                fh.write(data)
            with (self.directory / "quote").open("rb") as fh:
                quote = fh.read(MAX_QUOTE + 1)
        except OSError as exc:
            raise device_failed("/dev/attestation", exc) from None
        if not quote or len(quote) > MAX_QUOTE:
            raise device_failed("/dev/attestation", f"quote of {len(quote)} bytes")
        return quote, {}


def probe_gramine(root: Path) -> tuple[GramineDevice | None, list[Path]]:
    directory = root / ATTESTATION
    quote = directory / "quote"
    if not quote.exists():
        return None, [quote]
    kind_file = directory / "attestation_type"
    try:
        kind = kind_file.read_text().strip() if kind_file.exists() else "dcap"
    except OSError:
        kind = ""
    if kind != "dcap":
        return None, [quote]  # EPID (IAS retired) or no attestation: nothing verifiable
    return GramineDevice(directory), [quote]
