"""Keep large transport buffers in the heap instead of fresh ``mmap`` regions.

glibc serves allocations above its mmap threshold (dynamic, 128 KiB to 32 MiB) with
new mappings and trims the heap top when more than twice that is free. A node moving
1 MiB messages allocates and frees several such buffers per message, so each one came
back as fresh pages the kernel had to fault in and zero: about 2.3 MiB of page faults
per MiB carried (``perf stat`` on a node during ``benchmarks/transport.py``). Pinning
the thresholds above the largest buffers lets freed memory be reused as it is.

The price is that a node keeps its peak heap instead of returning it to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: mallopt(3) parameter numbers (glibc malloc.h).
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

#: glibc caps the mmap threshold at 32 MiB on 64-bit systems.
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 256 * 1024 * 1024
TOP_PAD = 64 * 1024 * 1024


def tune_malloc() -> bool:
    """Apply the thresholds where the C library is glibc; True if it took."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = all(
        mallopt(param, value) == 1
        for param, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (M_TOP_PAD, TOP_PAD),
        )
    )
    if not applied:
        log.info("malloc thresholds not applied; large messages will cost page faults")
    return applied
