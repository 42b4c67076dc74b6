"""X25519 eight at a time: Intel's multi-buffer ``mbx_x25519_mb8`` (AVX-512 IFMA).

SecretFlow's PSI masks points with this very function (its ``libpsi.so`` links Intel
IPP-crypto's multi-buffer library), which is why one libsodium multiplication per point
(about 32 µs here) cannot keep up with it. Intel publishes the library on PyPI
(``ipp-crypto``, with its runtime ``intel-cmplr-lib-rt``); where it is installed and
the CPU has AVX-512 IFMA, ``load()`` returns a ``MultiBuffer`` that does 8 lanes per
call (about 5.6 µs a multiplication: ctypes releases the GIL around each call, and
``scalarmult_packed`` takes thousands of packed points per Python call). Elsewhere it
returns None and callers keep libsodium.

Every load is checked against libsodium on random inputs before it is trusted.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import site
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from nacl import bindings

log = logging.getLogger(__name__)

LANES = 8
POINT_BYTES = 32
#: The runtime libraries libcrypto_mb.so needs, loaded first (RTLD_GLOBAL).
_RUNTIME = ("libintlc.so.5", "libimf.so", "libsvml.so", "libirng.so")
_BASEPOINT = (9).to_bytes(32, "little")
_BASEPOINT_ARRAY = np.frombuffer(_BASEPOINT, dtype=np.uint8)


class MultiBuffer:
    """``mbx_x25519_mb8`` over packed points: n points as one buffer of n x 32 bytes in,
    n products as one buffer out. The lane pointers of every call are computed at once
    (numpy), so the loop makes one ctypes call per eight points with three integers and
    builds no Python object per point; each call releases the GIL."""

    def __init__(self, function: Any) -> None:  # a ctypes foreign function
        function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        function.restype = ctypes.c_uint64
        self._function = function

    def scalarmult_packed(self, secret: bytes, data: bytes | memoryview) -> tuple[bytes, list[int]]:
        """X25519(secret, point) for the ``len(data) // 32`` points packed in ``data``,
        packed the same way, and the indices of the points the library refused (low
        order: the product would be all zeros; their 32 output bytes are meaningless)."""
        if len(data) % POINT_BYTES:
            raise ValueError(f"{len(data)} bytes is not a whole number of X25519 points")
        count = len(data) // POINT_BYTES
        if not count:
            return b"", []
        groups = -(-count // LANES)
        lanes = groups * LANES
        source = np.frombuffer(data, dtype=np.uint8)
        if lanes != count:  # pad the last group with the base point
            padded = np.empty(lanes * POINT_BYTES, dtype=np.uint8)
            padded[: source.size] = source
            padded[source.size :] = np.tile(_BASEPOINT_ARRAY, lanes - count)
            source = padded
        out = np.empty(lanes * POINT_BYTES, dtype=np.uint8)
        key = np.frombuffer(secret, dtype=np.uint8)
        offsets = np.arange(lanes, dtype=np.uint64) * np.uint64(POINT_BYTES)
        points = offsets + np.uint64(source.ctypes.data)
        products = offsets + np.uint64(out.ctypes.data)
        secrets = np.full(LANES, key.ctypes.data, dtype=np.uint64)
        function, stride = self._function, LANES * 8  # bytes of 8 lane pointers
        p_base, o_base, s_ptr = points.ctypes.data, products.ctypes.data, secrets.ctypes.data
        refused: list[int] = []
        for group in range(groups):
            status = function(o_base + group * stride, s_ptr, p_base + group * stride)
            if status:
                refused.extend(
                    group * LANES + lane
                    for lane in range(LANES)
                    if (status >> (4 * lane)) & 0xF and group * LANES + lane < count
                )
        return out[: count * POINT_BYTES].tobytes(), refused

    def scalarmult_many(self, secret: bytes, points: Sequence[bytes]) -> list[bytes | None]:
        """X25519(secret, point) for each point; None where the library refuses the lane
        (a low-order point: the result would be all zeros)."""
        if any(len(p) != POINT_BYTES for p in points):
            raise ValueError("an X25519 point is 32 bytes")
        packed, refused = self.scalarmult_packed(secret, b"".join(points))
        results: list[bytes | None] = [
            packed[i : i + POINT_BYTES] for i in range(0, len(packed), POINT_BYTES)
        ]
        for index in refused:
            results[index] = None
        return results


def _candidates() -> list[Path]:
    roots = [Path(sys.prefix) / "lib"]
    if site.USER_BASE:
        roots.append(Path(site.USER_BASE) / "lib")
    extra = os.environ.get("ISTHMUS_CRYPTO_MB_DIR")
    return ([Path(extra)] if extra else []) + roots


@functools.cache
def load() -> MultiBuffer | None:
    """The multi-buffer X25519, or None where it cannot be used here."""
    if os.environ.get("ISTHMUS_DISABLE_CRYPTO_MB"):
        return None
    for directory in _candidates():
        library = directory / "libcrypto_mb.so"
        if not library.is_file():
            continue
        try:
            for dependency in _RUNTIME:
                if (directory / dependency).is_file():
                    ctypes.CDLL(str(directory / dependency), mode=ctypes.RTLD_GLOBAL)
            function = ctypes.CDLL(str(library)).mbx_x25519_mb8
        except (OSError, AttributeError) as exc:
            log.info("multi-buffer X25519 not loadable from %s: %s", directory, exc)
            continue
        engine = MultiBuffer(function)
        if _agrees_with_libsodium(engine):
            return engine
        log.info("multi-buffer X25519 in %s disagrees with libsodium here; not used", directory)
    return None


def _agrees_with_libsodium(engine: MultiBuffer) -> bool:
    secret = os.urandom(32)
    points = [os.urandom(32) for _ in range(LANES + 3)]
    try:
        ours = engine.scalarmult_many(secret, points)
    except OSError:
        return False
    return ours == [bytes(bindings.crypto_scalarmult(secret, p)) for p in points]
