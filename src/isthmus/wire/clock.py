"""The one wall clock of Isthmus: milliseconds since the Unix epoch.

BFIA spells every timestamp in integer milliseconds (``x-timestamp``, ``create_time``,
expiry times), and so do our rows. Every layer reads the time through :func:`now_ms`, so
the unit is the same everywhere and there is one place to look when it is in doubt.
"""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    """Milliseconds since the epoch, from the integer clock (no float rounding)."""
    return time.time_ns() // 1_000_000
