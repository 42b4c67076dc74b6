"""Fixed-base exponentiation by a windowed table: ``base^e mod N`` for many short ``e``.

Paillier-DJN encryption raises the same public base ``hs`` to a fresh ``k/2``-bit
exponent for every ciphertext. A table of ``base^(j * 2^(w*i)) mod N`` for every window
``i`` and digit ``j < 2^w`` turns each exponentiation into at most ``ceil(bits / w)``
modular multiplications and no squarings: about 128 products for a 1024-bit exponent with
``w = 8``, against roughly 1024 squarings plus ~200 products for a square-and-multiply
``powmod``. The table costs ``ceil(bits / w) * (2^w - 1)`` products once per key (about
0.1 s and 16 MiB for a 2048-bit key at ``w = 8``), so it pays for itself after a few
hundred encryptions; callers build it lazily.

The table holds only public values (powers of a public base), so it may be rebuilt in or
shipped to any worker. Timing depends on how many digits of ``e`` are zero: for
encryption randomness that reveals at most a few of its ``k/2`` bits to an observer who
can time single encryptions, which leaves the hiding intact; this is accepted, as for the
other pure-software primitives of :mod:`isthmus.crypto`.
"""

from __future__ import annotations

from typing import Any

import gmpy2

DEFAULT_WINDOW = 8


class FixedBaseTable:
    """``base^e mod modulus`` for ``0 <= e < 2^exponent_bits``, by table lookup.

    Guarantee: :meth:`pow` returns exactly ``pow(base, e, modulus)`` for every ``e`` in
    that range (larger exponents fall back to ``gmpy2.powmod``, so the result is right for
    any non-negative ``e``, only slower).
    """

    def __init__(
        self, base: int, modulus: int, exponent_bits: int, window: int = DEFAULT_WINDOW
    ) -> None:
        if not 1 <= window <= 16:
            raise ValueError(f"window must be in 1..16, got {window}")
        if exponent_bits < 1:
            raise ValueError(f"exponent_bits must be positive, got {exponent_bits}")
        self.modulus = gmpy2.mpz(modulus)
        self.base = gmpy2.mpz(base) % self.modulus
        self.exponent_bits = exponent_bits
        self.window = window
        windows = -(-exponent_bits // window)
        self._mask = (1 << window) - 1
        rows: list[list[Any]] = []
        row_base = self.base
        for _ in range(windows):
            row = [gmpy2.mpz(1), row_base]
            for _ in range(2, 1 << window):
                row.append(row[-1] * row_base % self.modulus)
            rows.append(row)
            row_base = row[-1] * row_base % self.modulus  # base^(2^(w*(i+1)))
        self._rows = rows
        self._bytes = -(-exponent_bits // 8)

    def pow(self, exponent: int) -> Any:
        """``base^exponent mod modulus`` as an ``mpz`` (exactly ``powmod``'s value)."""
        if exponent < 0:
            raise ValueError("the exponent must be non-negative")
        if exponent >> self.exponent_bits:
            return gmpy2.powmod(self.base, exponent, self.modulus)
        modulus = self.modulus
        acc = gmpy2.mpz(1)
        rows = self._rows
        if self.window == 8:
            # one digit per byte: int.to_bytes is far cheaper than shifting a big int
            for row, digit in zip(rows, int(exponent).to_bytes(self._bytes, "little"), strict=True):
                if digit:
                    acc = acc * row[digit] % modulus
            return acc
        mask = self._mask
        e = int(exponent)
        for row in rows:
            digit = e & mask
            if digit:
                acc = acc * row[digit] % modulus
            e >>= self.window
        return acc
