"""Shared checks of the generation back-ends."""

from __future__ import annotations

from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import TeeReason

REPORT_DATA_SIZE = 64


def check_report_data(report_data: bytes) -> bytes:
    """Every interface takes exactly 64 bytes; a caller's mistake is a ValueError."""
    if len(report_data) != REPORT_DATA_SIZE:
        raise ValueError(f"report data must be {REPORT_DATA_SIZE} bytes, not {len(report_data)}")
    return bytes(report_data)


def device_failed(what: str, exc: OSError | str) -> TeeRefused:
    """A present device that failed to answer (a refusal, not a crash)."""
    return TeeRefused(
        f"{what} failed: {exc}",
        reason=TeeReason.UNSUPPORTED_PLATFORM,
        details={"device": what},
    )
