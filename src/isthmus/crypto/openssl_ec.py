"""Point multiplication on OpenSSL's named curves (SM2 among them), through ctypes.

``cryptography`` does not expose SM2's curve arithmetic, and the pure-Python SM2 of
``isthmus.crypto.sm2`` (enough for signatures) takes about 1.5 ms per multiplication:
far too slow for a PSI over millions of items. The system's libcrypto (OpenSSL 3, which
knows the SM2 curve as ``SM2``) does it in C, and ctypes releases the GIL around each
call, so worker threads use every core.

Only what ECDH-PSI needs: decode a point (which checks it is on the curve), multiply it
by a scalar, encode it compressed. ``multiply_first_valid`` serves hash-to-curve: it
decodes each candidate once and multiplies the first that is a point, so an item's own
point is never decoded twice (a decoding is a square root, about 6 % of a multiplication).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
import time
from collections.abc import Iterable, Sequence

POINT_CONVERSION_COMPRESSED = 2


class OpenSslUnavailable(RuntimeError):
    """This machine has no libcrypto with the requested curve."""


@functools.cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("crypto")
    if name is None:
        raise OpenSslUnavailable("no libcrypto on this machine")
    lib = ctypes.CDLL(name)
    vp, sz, cp, ci = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int
    signatures: dict[str, tuple[list[type], type | None]] = {
        "OBJ_txt2nid": ([cp], ci),
        "EC_GROUP_new_by_curve_name": ([ci], vp),
        "EC_GROUP_get0_order": ([vp], vp),
        "EC_POINT_new": ([vp], vp),
        "EC_POINT_free": ([vp], None),
        "EC_POINT_oct2point": ([vp, vp, cp, sz, vp], ci),
        "EC_POINT_point2oct": ([vp, vp, ci, cp, sz, vp], sz),
        "EC_POINT_mul": ([vp, vp, vp, vp, vp, vp], ci),
        "EC_POINT_is_at_infinity": ([vp, vp], ci),
        "BN_bin2bn": ([cp, ci, vp], vp),
        "BN_free": ([vp], None),
        "BN_CTX_new": ([], vp),
        "BN_is_zero": ([vp], ci),
        "BN_cmp": ([vp, vp], ci),
    }
    for symbol, (args, result) in signatures.items():
        function = getattr(lib, symbol)
        function.argtypes = args
        function.restype = result
    return lib


class Curve:
    """One named curve: encoded points in, encoded (compressed) points out."""

    def __init__(self, name: str, point_bytes: int) -> None:
        lib = _lib()
        nid = lib.OBJ_txt2nid(name.encode())
        group = lib.EC_GROUP_new_by_curve_name(nid) if nid else None
        if not group:
            raise OpenSslUnavailable(f"libcrypto does not know the curve {name}")
        self.name = name
        self.point_bytes = point_bytes
        self._lib = lib
        self._group = group
        self._local = threading.local()

    def _ctx(self) -> int:
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:  # BN_CTX is not thread-safe: one per thread
            ctx = self._local.ctx = self._lib.BN_CTX_new()
        return int(ctx)

    def is_on_curve(self, encoded: bytes) -> bool:
        lib, point = self._lib, self._lib.EC_POINT_new(self._group)
        try:
            return bool(
                lib.EC_POINT_oct2point(self._group, point, encoded, len(encoded), self._ctx())
            )
        finally:
            lib.EC_POINT_free(point)

    def valid_scalar(self, scalar: bytes) -> bool:
        """1 ≤ scalar < order."""
        lib = self._lib
        bn = lib.BN_bin2bn(scalar, len(scalar), None)
        try:
            order = lib.EC_GROUP_get0_order(self._group)
            return not lib.BN_is_zero(bn) and lib.BN_cmp(bn, order) < 0
        finally:
            lib.BN_free(bn)

    def multiply_first_valid(
        self, scalar: bytes, candidates: Iterable[Iterable[bytes]]
    ) -> list[bytes | None]:
        """For each item's candidate encodings: ``scalar · P`` compressed, P the first
        candidate that decodes to a point; None if the product is the point at infinity
        or no candidate is a point. Each candidate is decoded once."""
        lib, group, ctx = self._lib, self._group, self._ctx()
        decode, mul = lib.EC_POINT_oct2point, lib.EC_POINT_mul
        bn = lib.BN_bin2bn(scalar, len(scalar), None)
        point, product = lib.EC_POINT_new(group), lib.EC_POINT_new(group)
        out_buffer = ctypes.create_string_buffer(self.point_bytes)
        results: list[bytes | None] = []
        try:
            for tries in candidates:
                found = False
                for encoded in tries:
                    if decode(group, point, encoded, len(encoded), ctx):
                        found = True
                        break
                if (
                    not found
                    or not mul(group, product, None, point, bn, ctx)
                    or lib.EC_POINT_is_at_infinity(group, product)
                ):
                    results.append(None)
                    continue
                written = lib.EC_POINT_point2oct(
                    group, product, POINT_CONVERSION_COMPRESSED, out_buffer, self.point_bytes, ctx
                )
                results.append(out_buffer.raw[:written] if written else None)
        finally:
            lib.EC_POINT_free(point)
            lib.EC_POINT_free(product)
            lib.BN_free(bn)
        return results

    def seconds_per_multiplication(self, scalar: bytes, encoded: bytes, samples: int) -> float:
        """The ``EC_POINT_mul`` call alone (no decoding, no encoding): this thread's CPU
        seconds per call over ``samples`` calls, so other processes on the cores do not
        inflate it. The arithmetic floor benchmarks compare with."""
        lib, group, ctx = self._lib, self._group, self._ctx()
        bn = lib.BN_bin2bn(scalar, len(scalar), None)
        point, product = lib.EC_POINT_new(group), lib.EC_POINT_new(group)
        try:
            if not lib.EC_POINT_oct2point(group, point, encoded, len(encoded), ctx):
                raise ValueError("not a point of the curve")
            mul = lib.EC_POINT_mul
            started = time.thread_time()
            for _ in range(samples):
                mul(group, product, None, point, bn, ctx)
            return (time.thread_time() - started) / samples
        finally:
            lib.EC_POINT_free(point)
            lib.EC_POINT_free(product)
            lib.BN_free(bn)

    def multiply(self, scalar: bytes, points: Sequence[bytes]) -> list[bytes | None]:
        """``scalar · point`` compressed, for each point; None where the point is not
        on the curve or the product is the point at infinity."""
        lib, group, ctx = self._lib, self._group, self._ctx()
        bn = lib.BN_bin2bn(scalar, len(scalar), None)
        point, product = lib.EC_POINT_new(group), lib.EC_POINT_new(group)
        out_buffer = ctypes.create_string_buffer(self.point_bytes)
        results: list[bytes | None] = []
        try:
            for encoded in points:
                if (
                    not lib.EC_POINT_oct2point(group, point, encoded, len(encoded), ctx)
                    or not lib.EC_POINT_mul(group, product, None, point, bn, ctx)
                    or lib.EC_POINT_is_at_infinity(group, product)
                ):
                    results.append(None)
                    continue
                written = lib.EC_POINT_point2oct(
                    group, product, POINT_CONVERSION_COMPRESSED, out_buffer, self.point_bytes, ctx
                )
                results.append(out_buffer.raw[:written] if written else None)
        finally:
            lib.EC_POINT_free(point)
            lib.EC_POINT_free(product)
            lib.BN_free(bn)
        return results


@functools.cache
def sm2() -> Curve:
    return Curve("SM2", 33)
