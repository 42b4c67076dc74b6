"""X25519 eight at a time: Intel's multi-buffer ``mbx_x25519_mb8`` (AVX-512 IFMA).

SecretFlow's PSI masks points with this very function (its ``libpsi.so`` links Intel
IPP-crypto's multi-buffer library), which is why one libsodium multiplication per point
(about 32 µs here) cannot keep up with it. Intel publishes the library on PyPI
(``ipp-crypto``, with its runtime ``intel-cmplr-lib-rt``); where it is installed and
the CPU has AVX-512 IFMA, ``load()`` returns a ``MultiBuffer`` that does 8 lanes per
call (about 8 µs a multiplication through ctypes, which releases the GIL). Elsewhere it
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
from collections.abc import Callable, Sequence
from pathlib import Path

from nacl import bindings

log = logging.getLogger(__name__)

LANES = 8
#: The runtime libraries libcrypto_mb.so needs, loaded first (RTLD_GLOBAL).
_RUNTIME = ("libintlc.so.5", "libimf.so", "libsvml.so", "libirng.so")
_BASEPOINT = (9).to_bytes(32, "little")


class MultiBuffer:
    def __init__(self, function: Callable[..., int]) -> None:
        self._function = function
        self._points_type = ctypes.c_char_p * LANES
        self._outs_type = ctypes.c_void_p * LANES

    def scalarmult_many(self, secret: bytes, points: Sequence[bytes]) -> list[bytes | None]:
        """X25519(secret, point) for each point; None where the library refuses the lane
        (a low-order point: the result would be all zeros)."""
        outs = [ctypes.create_string_buffer(32) for _ in range(LANES)]
        out_array = self._outs_type(*[ctypes.addressof(o) for o in outs])
        secrets = self._points_type(*([secret] * LANES))
        function, points_type = self._function, self._points_type
        results: list[bytes | None] = []
        full = len(points) - len(points) % LANES
        for start in range(0, full, LANES):  # whole groups: the hot loop
            status = function(out_array, secrets, points_type(*points[start : start + LANES]))
            if status:
                results.extend(
                    None if (status >> (4 * lane)) & 0xF else outs[lane].raw
                    for lane in range(LANES)
                )
            else:
                results.extend([o.raw for o in outs])
        if full < len(points):  # the tail, padded with the base point
            group = list(points[full:])
            used = len(group)
            group += [_BASEPOINT] * (LANES - used)
            status = function(out_array, secrets, points_type(*group))
            results.extend(
                None if (status >> (4 * lane)) & 0xF else outs[lane].raw for lane in range(used)
            )
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
        function.restype = ctypes.c_uint64
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
