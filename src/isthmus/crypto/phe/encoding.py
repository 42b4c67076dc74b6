"""Fixed-point encoding of real numbers for Paillier, bit-compatible with SecretFlow's SGB.

SecretFlow's SGB (``secretflow.ml.boost.sgb_v``, which its interconnection mode runs)
encrypts the gradients ``g`` and hessians ``h`` with HEU's ``FloatEncoder`` at
``scale = 2 ** fixed_point_parameter``, and the IC handler leaves that parameter at its
default, 20 (``batch_encoding_enabled=False``, so one number per ciphertext). HEU's
``FloatEncoder.encode`` **truncates toward zero** — ``0.3 -> 314572`` although
``0.3 * 2^20 = 314572.8`` — and ``decode`` divides by the scale. See docs/protocol.md,
"PHE (Paillier)", for how this was established (SecretFlow's source in the peer venv and
an experiment with HEU itself, repeated by ``tests/crypto/phe/test_heu_interop.py``).

Matching the truncation matters for wire compatibility only at the last unit: both
parties sum encrypted values and decode the sums, so a peer that rounded instead would
differ by at most one unit (``2^-20``) per summand, within the split-gain noise but not
bit-exact. We truncate, like HEU, so sums agree exactly.

The product ``x * scale`` is taken in double precision and then truncated, as HEU does,
so even a non-power-of-two scale gives HEU's integer; for a power-of-two scale (SGB's)
the product is exact. Guarantee: for a finite ``x`` (within ``max_abs`` if one is set),
``|decode(encode(x)) - x| < 1 / scale``, plus one double rounding of the product for a
scale that is not a power of two. NaN, infinities and magnitudes beyond ``max_abs`` are
refused, never wrapped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from isthmus.crypto.phe.errors import EncodingError

SGB_FIXED_POINT_BITS: Final = 20
"""SecretFlow SGB's default ``fixed_point_parameter`` (unchanged by its IC handler)."""

SGB_SCALE: Final = 1 << SGB_FIXED_POINT_BITS
"""``2^20 = 1048576``: the scale of g/h in SecretFlow SGB's interconnection mode."""

HEU_DEFAULT_FLOAT_SCALE: Final = 10**6
"""HEU's ``FloatEncoder`` scale when none is given (not what SGB uses)."""


@dataclass(frozen=True)
class FixedPointEncoder:
    """Reals <-> integers as ``trunc(x * scale)`` and ``m / scale`` (HEU's FloatEncoder).

    ``max_abs`` optionally bounds the encoded integer. By default there is no bound here,
    as in HEU (whose float encoder turns any finite double into an exact big integer,
    ``1e300`` included); the key's own plaintext range check then applies on encryption.
    """

    scale: int = SGB_SCALE
    max_abs: int | None = None

    def __post_init__(self) -> None:
        if self.scale < 1:
            raise ValueError(f"the fixed-point scale must be a positive integer: {self.scale}")

    def encode(self, x: float) -> int:
        """``trunc(x * scale)`` (a double product, as HEU); refuses NaN, inf, too large."""
        value = float(x)
        if not math.isfinite(value):
            raise EncodingError(f"cannot encode a non-finite number as fixed point: {value}")
        product = value * self.scale
        if not math.isfinite(product):
            raise EncodingError(f"{value!r} overflows at fixed-point scale {self.scale}")
        encoded = math.trunc(product)
        if self.max_abs is not None and abs(encoded) > self.max_abs:
            raise EncodingError(
                f"{value!r} is too large for fixed point at scale {self.scale} "
                f"(|x * scale| must be at most {self.max_abs})",
                details={"scale": self.scale},
            )
        return encoded

    def decode(self, m: int) -> float:
        """``m / scale`` as the nearest double."""
        return int(m) / self.scale

    def encode_many(self, xs: Iterable[float]) -> list[int]:
        """:meth:`encode` over an iterable (a list, a NumPy array, a column)."""
        return [self.encode(x) for x in xs]

    def decode_many(self, ms: Iterable[int]) -> list[float]:
        """:meth:`decode` over an iterable."""
        return [self.decode(m) for m in ms]

    @property
    def precision(self) -> float:
        """The bound on ``|decode(encode(x)) - x|``: one unit, ``1 / scale``."""
        return 1 / self.scale
