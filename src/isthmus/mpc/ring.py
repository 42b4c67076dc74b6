"""The rings Z/2^64 and Z/2^128 as vectorised numpy arithmetic, exact to the last bit.

A ring tensor is a plain ``numpy.ndarray`` of dtype ``uint64``:

* ring 64: any shape; arithmetic is numpy's wrapping ``uint64`` arithmetic;
* ring 128: the logical shape plus a trailing axis of length 2, ``[..., 0]`` the low 64
  bits and ``[..., 1]`` the high 64 bits (two's complement over 128 bits).

Every operation is exact modulo 2^bits (the property tests check each against Python
integers). ``matmul`` runs through float64 BLAS: the operands are cut into limbs of at
most 22 bits and ``k`` into chunks of at most 512, so every partial product sum is below
512·2^44 = 2^53 and therefore exact in a double; the partial results are converted back
to ``uint64`` and shifted into place with wrapping (or 128-bit carrying) additions.
The byte layout (``to_bytes``) is little-endian, 8 bytes an element in ring 64 and 16
in ring 128 (low limb, then high limb): the RAW shard format of the handshake.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from isthmus.wire.errors import MpcInputError

Tensor = NDArray[np.uint64]

_MASK64 = (1 << 64) - 1
_LIMB = 22  # limb width of the float matmul: 2·22 + log2(512) = 53
_K_CHUNK = 512
_U64 = np.uint64
# numpy warns when a 0-d (scalar) uint64 operation wraps; wrapping is the point here
_wrapping = np.errstate(over="ignore")


def _u(x: int) -> np.uint64:
    return np.uint64(x)


@_wrapping
def _add128(alo: Tensor, ahi: Tensor, blo: Tensor, bhi: Tensor) -> tuple[Tensor, Tensor]:
    lo = alo + blo
    hi = ahi + bhi + (lo < alo).astype(_U64)
    return lo, hi


@_wrapping
def _mul64_full(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """The full 128-bit product of two uint64 arrays, as (low, high) limbs."""
    m32 = _u(0xFFFFFFFF)
    s32 = _u(32)
    al, ah = a & m32, a >> s32
    bl, bh = b & m32, b >> s32
    ll, lh, hl, hh = al * bl, al * bh, ah * bl, ah * bh
    mid = (ll >> s32) + (lh & m32) + (hl & m32)
    lo = (ll & m32) | (mid << s32)
    hi = hh + (lh >> s32) + (hl >> s32) + (mid >> s32)
    return lo, hi


class Ring:
    """Arithmetic modulo 2^bits for ``bits`` in (64, 128); see the module docstring."""

    def __init__(self, bits: int) -> None:
        if bits not in (64, 128):
            raise MpcInputError(f"ring bits must be 64 or 128, not {bits}")
        self.bits = bits
        self.element_bytes = bits // 8
        self.modulus = 1 << bits

    def __repr__(self) -> str:
        return f"Ring({self.bits})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ring) and other.bits == self.bits

    def __hash__(self) -> int:
        return hash(self.bits)

    @property
    def wide(self) -> bool:
        return self.bits == 128

    # --- shapes -------------------------------------------------------------------

    def zeros(self, shape: Sequence[int]) -> Tensor:
        tail = (2,) if self.wide else ()
        return np.zeros((*tuple(shape), *tail), dtype=_U64)

    def shape(self, a: Tensor) -> tuple[int, ...]:
        return tuple(a.shape[:-1]) if self.wide else tuple(a.shape)

    def reshape(self, a: Tensor, shape: Sequence[int]) -> Tensor:
        tail = (2,) if self.wide else ()
        return a.reshape((*tuple(shape), *tail))

    def transpose(self, a: Tensor) -> Tensor:
        """The transpose of a 2-D logical tensor."""
        if len(self.shape(a)) != 2:
            raise MpcInputError(f"transpose needs a 2-D tensor, not {self.shape(a)}")
        out = a.transpose(1, 0, 2) if self.wide else a.T
        return np.ascontiguousarray(out)

    def _limbs(self, a: Tensor) -> tuple[Tensor, Tensor]:
        return a[..., 0], a[..., 1]

    def _join(self, lo: Tensor, hi: Tensor) -> Tensor:
        return np.stack([lo, hi], axis=-1)

    # --- elementwise ----------------------------------------------------------------

    @_wrapping
    def add(self, a: Tensor, b: Tensor) -> Tensor:
        if not self.wide:
            return a + b
        return self._join(*_add128(*self._limbs(a), *self._limbs(b)))

    @_wrapping
    def sub(self, a: Tensor, b: Tensor) -> Tensor:
        if not self.wide:
            return a - b
        alo, ahi = self._limbs(a)
        blo, bhi = self._limbs(b)
        lo = alo - blo
        hi = ahi - bhi - (alo < blo).astype(_U64)
        return self._join(lo, hi)

    def neg(self, a: Tensor) -> Tensor:
        return self.sub(np.zeros_like(a), a)

    @_wrapping
    def mul(self, a: Tensor, b: Tensor) -> Tensor:
        if not self.wide:
            return a * b
        alo, ahi = self._limbs(a)
        blo, bhi = self._limbs(b)
        lo, hi = _mul64_full(alo, blo)
        return self._join(lo, hi + alo * bhi + ahi * blo)

    @_wrapping
    def sum(self, a: Tensor, axis: int | None = None) -> Tensor:
        """Sum over one logical axis (or all of them), modulo 2^bits."""
        if not self.wide:
            return np.asarray(np.sum(a, axis=axis, dtype=_U64), dtype=_U64)
        lo, hi = self._limbs(a)
        lo_low = np.asarray(np.sum(lo & _u(0xFFFFFFFF), axis=axis, dtype=_U64))
        lo_high = np.asarray(np.sum(lo >> _u(32), axis=axis, dtype=_U64))
        hi_sum = np.asarray(np.sum(hi, axis=axis, dtype=_U64))
        # lo_high·2^32 as 128 bits, plus lo_low (sums of fewer than 2^32 terms fit).
        slo, shi = _add128(lo_high << _u(32), lo_high >> _u(32), lo_low, np.zeros_like(lo_low))
        return self._join(slo, shi + hi_sum)

    def arshift(self, a: Tensor, f: int) -> Tensor:
        """Arithmetic (sign-extending) right shift by ``f`` bits, 0 <= f < bits."""
        self._check_shift(f)
        if f == 0:
            return a.copy()
        if not self.wide:
            return (a.view(np.int64) >> np.int64(f)).view(_U64)
        lo, hi = self._limbs(a)
        shi = hi.view(np.int64)
        if f < 64:
            new_lo = (lo >> _u(f)) | (hi << _u(64 - f))
            new_hi = (shi >> np.int64(f)).view(_U64)
        else:
            new_lo = (shi >> np.int64(f - 64)).view(_U64)
            new_hi = (shi >> np.int64(63)).view(_U64)
        return self._join(new_lo, new_hi)

    @_wrapping
    def lshift(self, a: Tensor, f: int) -> Tensor:
        """Left shift by ``f`` bits modulo 2^bits, 0 <= f < bits."""
        self._check_shift(f)
        if f == 0:
            return a.copy()
        if not self.wide:
            return a << _u(f)
        lo, hi = self._limbs(a)
        if f < 64:
            return self._join(lo << _u(f), (hi << _u(f)) | (lo >> _u(64 - f)))
        return self._join(np.zeros_like(lo), lo << _u(f - 64))

    def low_bits(self, a: Tensor, f: int) -> Tensor:
        """Each element modulo 2^f (0 <= f <= bits), as a non-negative ring element."""
        if not 0 <= f <= self.bits:
            raise MpcInputError(f"cannot keep {f} bits of a ring {self.bits} element")
        if f == self.bits:
            return a.copy()
        if not self.wide:
            return a & _u((1 << f) - 1)
        lo, hi = self._limbs(a)
        if f < 64:
            return self._join(lo & _u((1 << f) - 1), np.zeros_like(hi))
        return self._join(lo.copy(), hi & _u((1 << (f - 64)) - 1))

    def _check_shift(self, f: int) -> None:
        if not 0 <= f < self.bits:
            raise MpcInputError(f"shift of {f} bits outside [0, {self.bits})")

    # --- matmul -------------------------------------------------------------------

    def _float_limbs(self, a: Tensor) -> list[tuple[int, NDArray[np.float64]]]:
        """(offset, limb as float64) pairs covering every bit of the elements."""
        words = [a] if not self.wide else [a[..., 0], a[..., 1]]
        out: list[tuple[int, NDArray[np.float64]]] = []
        for w, word in enumerate(words):
            for start in range(0, 64, _LIMB):
                width = min(_LIMB, 64 - start)
                limb = (word >> _u(start)) & _u((1 << width) - 1)
                out.append((64 * w + start, limb.astype(np.float64)))
        return out

    def matmul(self, a: Tensor, b: Tensor) -> Tensor:
        """(m, k) @ (k, n) modulo 2^bits (logical shapes), exactly; see the module text."""
        sa, sb = self.shape(a), self.shape(b)
        if len(sa) != 2 or len(sb) != 2 or sa[1] != sb[0]:
            raise MpcInputError(f"matmul shapes do not agree: {sa} @ {sb}")
        m, k = sa
        n = sb[1]
        acc_lo = np.zeros((m, n), dtype=_U64)
        acc_hi = np.zeros((m, n), dtype=_U64)
        for k0 in range(0, k, _K_CHUNK):
            k1 = min(k, k0 + _K_CHUNK)
            la = self._float_limbs(a[:, k0:k1])
            lb = self._float_limbs(b[k0:k1])
            for off_a, fa in la:
                right = [(off_b, fb) for off_b, fb in lb if off_a + off_b < self.bits]
                if not right:
                    continue
                prods = fa @ np.concatenate([fb for _, fb in right], axis=1)
                for j, (off_b, _) in enumerate(right):
                    part = prods[:, j * n : (j + 1) * n].astype(_U64)
                    acc_lo, acc_hi = self._accumulate(acc_lo, acc_hi, part, off_a + off_b)
        if not self.wide:
            return acc_lo
        return self._join(acc_lo, acc_hi)

    @_wrapping
    def _accumulate(
        self, lo: Tensor, hi: Tensor, part: Tensor, shift: int
    ) -> tuple[Tensor, Tensor]:
        if not self.wide:
            return lo + (part << _u(shift)), hi
        if shift == 0:
            plo, phi = part, np.zeros_like(part)
        elif shift < 64:
            plo, phi = part << _u(shift), part >> _u(64 - shift)
        else:
            plo, phi = np.zeros_like(part), part << _u(shift - 64)
        return _add128(lo, hi, plo, phi)

    # --- conversions ----------------------------------------------------------------

    def from_int(self, values: Any) -> Tensor:
        """Python or numpy integers (any sign, any size) reduced modulo 2^bits."""
        arr = np.asarray(values)
        if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 8:
            if arr.dtype.kind == "u":
                word = arr.astype(_U64)
                return self._join(word, np.zeros_like(word)) if self.wide else word
            signed = arr.astype(np.int64)
            word = signed.astype(_U64)
            if not self.wide:
                return word
            return self._join(word, (signed >> np.int64(63)).view(_U64))
        if arr.dtype.kind not in "iuO":
            raise MpcInputError(f"ring elements are integers, not {arr.dtype} (use encode)")
        obj = np.asarray(arr, dtype=object) % self.modulus
        lo = np.asarray(obj & _MASK64, dtype=object).astype(_U64)
        if not self.wide:
            return lo
        hi = np.asarray(obj >> 64, dtype=object).astype(_U64)
        return self._join(lo, hi)

    def to_signed_int(self, a: Tensor) -> NDArray[np.object_]:
        """Every element as a Python int in [-2^(bits-1), 2^(bits-1))."""
        if not self.wide:
            return np.asarray(a.view(np.int64).astype(object), dtype=object)
        lo = a[..., 0].astype(object)
        hi = a[..., 1].view(np.int64).astype(object)
        return np.asarray(hi * (1 << 64) + lo, dtype=object)

    def to_unsigned_int(self, a: Tensor) -> NDArray[np.object_]:
        """Every element as a Python int in [0, 2^bits)."""
        return np.asarray(self.to_signed_int(a) % self.modulus, dtype=object)

    def encode(self, x: Any, f: int) -> Tensor:
        """x·2^f with the fractional part dropped toward zero, two's complement."""
        v = np.trunc(np.asarray(x, dtype=np.float64) * float(2**f))
        limit = float(2 ** (self.bits - 1))
        if not np.all(np.isfinite(v)) or np.any(np.abs(v) >= limit):
            raise MpcInputError(
                f"a value is not finite or does not fit ring {self.bits} with {f} fraction bits"
            )
        if not self.wide:
            return v.astype(np.int64).view(_U64)
        mag = np.abs(v)
        hi = np.floor(mag / 2.0**64)
        lo = mag - hi * 2.0**64
        out = self._join(lo.astype(_U64), hi.astype(_U64))
        return np.where((v < 0)[..., None], self.neg(out), out).astype(_U64)

    def decode(self, a: Tensor, f: int) -> NDArray[np.float64]:
        """The signed value over 2^f, as float64 (rounded to the nearest double)."""
        scale = 2.0 ** (-f)
        if not self.wide:
            return a.view(np.int64).astype(np.float64) * scale
        # value = (hi + lo_top)·2^64 + signed(lo): small values stay exact.
        lo = a[..., 0]
        hi = a[..., 1].view(np.int64).astype(np.float64) + (lo >> _u(63)).astype(np.float64)
        return (hi * 2.0**64 + lo.view(np.int64).astype(np.float64)) * scale

    def to_bytes(self, a: Tensor) -> bytes:
        return np.ascontiguousarray(a, dtype="<u8").tobytes()

    def nbytes(self, shape: Sequence[int]) -> int:
        return int(np.prod(tuple(shape), dtype=np.int64)) * self.element_bytes

    def from_bytes(self, buf: bytes, shape: Sequence[int]) -> Tensor:
        expected = self.nbytes(shape)
        if len(buf) != expected:
            raise MpcInputError(
                f"ring {self.bits} tensor of shape {tuple(shape)} needs {expected} bytes, "
                f"got {len(buf)}"
            )
        tail = (2,) if self.wide else ()
        flat = np.frombuffer(buf, dtype="<u8").astype(_U64)
        return flat.reshape((*tuple(shape), *tail))


RING64 = Ring(64)
RING128 = Ring(128)
