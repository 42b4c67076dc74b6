"""Paillier with the Damgård-Jurik-Nielsen optimisation, exactly as PPCA App. A gives it.

Key generation: ``n = p*q`` with ``p ≡ q ≡ 3 (mod 4)`` and ``gcd(p-1, q-1) = 2``;
``x <- Z*_n``, ``h = -x^2 mod n``, ``hs = h^n mod n^2``; ``lambda = (p-1)(q-1)/2``.
The public key is ``(n, hs)`` — the pair the interconnection wire carries
(``PaillierPublicKey{n, hs}``), and the pair SecretFlow/HEU's "ic-paillier" uses.

* ``Enc(m) = (1 + m*n) * hs^r mod n^2`` with ``r`` uniform of ``k/2`` bits (``k = |n|``);
  ``hs^r`` comes from a fixed-base table (:mod:`.fixed_base`), the main cost saving of
  DJN: a short exponent on a fixed base instead of ``r^n`` for a full-size ``r``.
* ``Dec(c) = L(c^lambda mod n^2) * lambda^-1 mod n`` with ``L(x) = (x-1)/n``; computed by
  the Chinese remainder theorem (one ``k/2``-bit exponent modulo ``p^2`` and one modulo
  ``q^2``, about four times faster); :meth:`PaillierPrivateKey.decrypt_raw_reference`
  keeps the textbook formula, and the tests check that both agree.
* Addition is the product of ciphertexts, subtraction the product with the inverse,
  multiplication by a plaintext integer a power. Negative numbers are ``n - |m|``; a
  decrypted value above ``n/2`` is negative, so the signed range is
  ``[-(n-1)/2, (n-1)/2]`` and anything outside it is refused, not wrapped.

Big integers: gmpy2 (GMP). Python's ``pow`` is a generic square-and-multiply on 30-bit
digits; GMP's ``mpz_powm`` uses sub-quadratic multiplication, Montgomery/REDC reduction
and sliding windows in assembly, which makes a 4096-bit modular exponentiation about an
order of magnitude faster, and its ``invert``/``gcd``/``is_prime`` cover the rest of
key generation and CRT decryption. It is the big-integer library python-paillier (phe),
FATE and most Python HE stacks use.

Every ciphertext that enters an operation is checked to lie in ``Z*_{n^2}``
(``0 < c < n^2`` and ``gcd(c, n) = 1``): a partner's malformed ciphertext is a
:class:`~.errors.MalformedCiphertext`, never a silently wrong sum.
"""

from __future__ import annotations

import functools
import operator
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import gmpy2

from isthmus.crypto.phe.errors import KeySizeRefused, MalformedCiphertext, PlaintextOutOfRange
from isthmus.crypto.phe.fixed_base import FixedBaseTable
from isthmus.wire.errors import InvalidKey

MIN_KEY_BITS: Final = 2048
"""The smallest modulus accepted outside tests (PPCA: 1024 is for testing only)."""

SUPPORTED_KEY_BITS: Final = (1024, 2048, 3072)
"""The sizes PPCA's ``PaillierParamsProposal`` names and SecretFlow proposes."""

_PRIME_ROUNDS: Final = 40


def check_key_bits(bits: int, *, allow_insecure: bool = False) -> None:
    """Refuse a modulus size below 2048 bits unless ``allow_insecure`` (tests only).

    Guarantee: returns only for ``bits >= 2048``, or ``bits >= 1024`` with
    ``allow_insecure``; the error names the size so the operator sees what was asked.
    """
    if bits >= MIN_KEY_BITS:
        return
    if allow_insecure and bits >= 1024:
        return
    hint = "" if allow_insecure else " (1024 bits is allowed only in tests: allow_insecure)"
    raise KeySizeRefused(
        f"Paillier key size {bits} bits is refused: the minimum is {MIN_KEY_BITS}{hint}",
        details={"key_bits": bits, "min_key_bits": MIN_KEY_BITS},
    )


@dataclass(frozen=True)
class PaillierPublicKey:
    """``(n, hs)``: enough to encrypt, add, subtract and multiply by plaintexts.

    Construct it through :meth:`from_parts` for anything received from a partner: that
    checks the size and that ``hs`` is a unit modulo ``n^2``.
    """

    n: int
    hs: int

    @classmethod
    def from_parts(cls, n: int, hs: int, *, allow_insecure: bool = False) -> PaillierPublicKey:
        """A validated public key; :class:`InvalidKey` or :class:`KeySizeRefused` if not."""
        n, hs = int(n), int(hs)
        if n < 3 or n % 2 == 0:
            raise InvalidKey("Paillier public key: n must be an odd integer > 2")
        check_key_bits(n.bit_length(), allow_insecure=allow_insecure)
        n2 = n * n
        if not 0 < hs < n2 or gmpy2.gcd(hs, n) != 1:
            raise InvalidKey("Paillier public key: hs is not an element of Z*_{n^2}")
        return cls(n, hs)

    @property
    def bits(self) -> int:
        """``k = |n|``, the key size."""
        return self.n.bit_length()

    @property
    def max_plaintext(self) -> int:
        """The largest absolute value a plaintext may have: ``(n - 1) // 2``."""
        return (self.n - 1) // 2

    @functools.cached_property
    def _n(self) -> Any:
        return gmpy2.mpz(self.n)

    @functools.cached_property
    def n_square(self) -> Any:
        """``n^2`` (an ``mpz``), the ciphertext modulus."""
        return self._n * self._n

    @functools.cached_property
    def hs_table(self) -> FixedBaseTable:
        """The fixed-base table of ``hs`` for ``k/2``-bit exponents, built on first use."""
        return FixedBaseTable(self.hs, self.n_square, self.random_bits)

    @property
    def random_bits(self) -> int:
        """Bits of the encryption randomness ``r``: ``k/2``."""
        return self.bits // 2

    # --- plaintexts ---------------------------------------------------------------

    def encode_signed(self, m: int) -> int:
        """``m`` as an element of ``Z_n``: itself if ``m >= 0``, else ``n - |m|``.

        Raises :class:`PlaintextOutOfRange` outside ``[-(n-1)/2, (n-1)/2]``.
        """
        try:
            m = operator.index(m)  # a float is refused here, never truncated
        except TypeError:
            raise PlaintextOutOfRange(
                f"a Paillier plaintext must be an integer, got {type(m).__name__} "
                "(encode reals with FixedPointEncoder first)"
            ) from None
        if abs(m) > self.max_plaintext:
            raise PlaintextOutOfRange(
                f"plaintext out of range for a {self.bits}-bit Paillier key: "
                f"|m| must be at most (n-1)/2 (a {self.max_plaintext.bit_length()}-bit "
                f"number), got a {abs(m).bit_length()}-bit number",
                details={"key_bits": self.bits, "plaintext_bits": abs(m).bit_length()},
            )
        return m % self.n

    def decode_signed(self, value: int) -> int:
        """The inverse of :meth:`encode_signed`: values above ``n/2`` are negative."""
        value = int(value)
        return value - self.n if value > self.max_plaintext else value

    # --- ciphertexts --------------------------------------------------------------

    def check_ciphertext(self, c: int) -> Any:
        """``c`` as an ``mpz`` if it lies in ``Z*_{n^2}``, else :class:`MalformedCiphertext`."""
        try:
            # operator.index accepts int, mpz and NumPy integers, and refuses floats and
            # strings that mpz() would silently truncate or parse
            value = gmpy2.mpz(operator.index(c))
        except TypeError:
            raise MalformedCiphertext(
                f"Paillier ciphertext is not an integer: {type(c).__name__}"
            ) from None
        if not 0 < value < self.n_square:
            raise MalformedCiphertext(
                "Paillier ciphertext out of range: it must satisfy 0 < c < n^2 "
                f"(got a {int(value).bit_length()}-bit value for a {self.bits}-bit key)",
                details={"key_bits": self.bits},
            )
        if gmpy2.gcd(value, self._n) != 1:
            raise MalformedCiphertext(
                "Paillier ciphertext is not invertible modulo n^2 (gcd(c, n) != 1)",
                details={"key_bits": self.bits},
            )
        return value

    def random_factor(self) -> Any:
        """``hs^r mod n^2`` for a fresh uniform ``r`` of ``k/2`` bits."""
        return self.hs_table.pow(secrets.randbits(self.random_bits))

    def encrypt(self, m: int) -> int:
        """``Enc(m)`` for a signed integer ``m``; see :meth:`encode_signed` for the range."""
        return self.encrypt_encoded(self.encode_signed(m))

    def encrypt_encoded(self, m: int) -> int:
        """``Enc(m)`` for ``m`` already in ``Z_n`` (``0 <= m < n``)."""
        if not 0 <= m < self.n:
            raise PlaintextOutOfRange("an encoded Paillier plaintext must lie in [0, n)")
        n2 = self.n_square
        return int((1 + gmpy2.mpz(m) * self._n) * self.random_factor() % n2)

    def encrypt_many(self, values: Iterable[int]) -> list[int]:
        """``[Enc(m) for m in values]`` in this process (see :mod:`.batch` for all cores)."""
        return [self.encrypt(m) for m in values]

    def rerandomize(self, c: int) -> int:
        """A fresh ciphertext of the same plaintext: ``c * hs^r mod n^2``."""
        return int(self.check_ciphertext(c) * self.random_factor() % self.n_square)

    def add(self, a: int, b: int) -> int:
        """``Enc(x + y)`` from ``Enc(x)`` and ``Enc(y)``: their product modulo ``n^2``."""
        return int(self.check_ciphertext(a) * self.check_ciphertext(b) % self.n_square)

    def sub(self, a: int, b: int) -> int:
        """``Enc(x - y)``: ``a`` times the inverse of ``b`` modulo ``n^2``."""
        inverse = gmpy2.invert(self.check_ciphertext(b), self.n_square)
        return int(self.check_ciphertext(a) * inverse % self.n_square)

    def neg(self, c: int) -> int:
        """``Enc(-x)``: the inverse of ``c`` modulo ``n^2``."""
        return int(gmpy2.invert(self.check_ciphertext(c), self.n_square))

    def add_plain(self, c: int, m: int) -> int:
        """``Enc(x + m)`` for a plaintext ``m``: ``c * (1 + m*n) mod n^2`` (not rerandomised)."""
        encoded = self.encode_signed(m)
        return int(self.check_ciphertext(c) * (1 + encoded * self._n) % self.n_square)

    def mul_plain(self, c: int, k: int) -> int:
        """``Enc(k * x)`` for a plaintext integer ``k``: ``c^k mod n^2``.

        A negative ``k`` raises the inverse to ``|k|``, so small negative factors stay
        cheap; ``k`` must lie in the signed plaintext range.
        """
        self.encode_signed(k)  # range and type check
        k = operator.index(k)
        value = self.check_ciphertext(c)
        if k < 0:
            value, k = gmpy2.invert(value, self.n_square), -k
        return int(gmpy2.powmod(value, k, self.n_square))

    def sum(self, ciphertexts: Iterable[int]) -> int:
        """``Enc(sum of x_i)``: the product of all ciphertexts (``Enc(0)`` is 1 if empty)."""
        n2 = self.n_square
        acc = gmpy2.mpz(1)
        for c in ciphertexts:
            acc = acc * self.check_ciphertext(c) % n2
        return int(acc)


class PaillierPrivateKey:
    """The factorisation ``(p, q)``: decryption, by CRT.

    Its ``repr`` never shows ``p`` or ``q``; nothing in this package logs it.
    """

    __slots__ = ("_hp", "_hq", "_p", "_p2", "_q", "_q2", "_q_inv_p", "public_key")

    def __init__(self, p: int, q: int, public_key: PaillierPublicKey) -> None:
        p_, q_ = gmpy2.mpz(p), gmpy2.mpz(q)
        if p_ * q_ != public_key.n:
            raise InvalidKey("Paillier private key: p * q is not the public key's n")
        self.public_key = public_key
        self._p, self._q = p_, q_
        self._p2, self._q2 = p_ * p_, q_ * q_
        # (1 + n)^(p-1) = 1 + (p-1)*n (mod p^2), so L_p of it is (p-1)*q mod p
        self._hp = gmpy2.invert((p_ - 1) * q_ % p_, p_)
        self._hq = gmpy2.invert((q_ - 1) * p_ % q_, q_)
        self._q_inv_p = gmpy2.invert(q_, p_)

    def __repr__(self) -> str:
        return f"PaillierPrivateKey(<{self.public_key.bits}-bit, secret>)"

    @property
    def p(self) -> int:
        return int(self._p)

    @property
    def q(self) -> int:
        return int(self._q)

    @property
    def lam(self) -> int:
        """``lambda = (p-1)(q-1)/2``."""
        return int((self._p - 1) * (self._q - 1) // 2)

    def decrypt_raw(self, c: int) -> int:
        """``Dec(c)`` in ``[0, n)``, by CRT.

        ``hs`` has order dividing ``lambda``, so ``c^(p-1) = 1 + (p-1)*m*n (mod p^2)``
        and ``m mod p = L_p(c^(p-1) mod p^2) * ((p-1)*q)^-1 mod p``; likewise for ``q``;
        the two residues recombine to ``m mod n``.
        """
        value = self.public_key.check_ciphertext(c)
        p, q = self._p, self._q
        mp = (gmpy2.powmod(value % self._p2, p - 1, self._p2) - 1) // p * self._hp % p
        mq = (gmpy2.powmod(value % self._q2, q - 1, self._q2) - 1) // q * self._hq % q
        return int(mq + (mp - mq) * self._q_inv_p % p * q)

    def decrypt_raw_reference(self, c: int) -> int:
        """``Dec(c)`` by the specification's formula ``L(c^lambda mod n^2) * lambda^-1``."""
        pk = self.public_key
        value = pk.check_ciphertext(c)
        lam = gmpy2.mpz(self.lam)
        n = gmpy2.mpz(pk.n)
        u = gmpy2.powmod(value, lam, pk.n_square)
        return int((u - 1) // n * gmpy2.invert(lam, n) % n)

    def decrypt(self, c: int) -> int:
        """The signed plaintext of ``c`` (values above ``n/2`` are negative)."""
        return self.public_key.decode_signed(self.decrypt_raw(c))

    def decrypt_many(self, ciphertexts: Iterable[int]) -> list[int]:
        """``[Dec(c) for c in ciphertexts]`` in this process (see :mod:`.batch`)."""
        return [self.decrypt(c) for c in ciphertexts]


def _random_prime(bits: int) -> Any:
    """A uniform-ish prime of exactly ``bits`` bits with ``p ≡ 3 (mod 4)``.

    The two top bits are set so that the product of two such primes has exactly
    ``2*bits`` bits.
    """
    top = gmpy2.mpz(3) << (bits - 2)
    while True:
        candidate = gmpy2.mpz(secrets.randbits(bits)) | top | 3
        if gmpy2.is_prime(candidate, _PRIME_ROUNDS):
            return candidate


def generate_keypair(
    bits: int = MIN_KEY_BITS, *, allow_insecure: bool = False
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """A fresh DJN key pair with a ``bits``-bit modulus (PPCA App. A).

    Guarantee: ``n`` has exactly ``bits`` bits, ``p ≡ q ≡ 3 (mod 4)``,
    ``gcd(p-1, q-1) = 2``, ``hs = (-x^2)^n mod n^2`` for a uniform unit ``x``.
    """
    if bits % 2:
        raise KeySizeRefused(f"Paillier key size must be even, got {bits}")
    check_key_bits(bits, allow_insecure=allow_insecure)
    half = bits // 2
    while True:
        p = _random_prime(half)
        q = _random_prime(half)
        if p != q and gmpy2.gcd(p - 1, q - 1) == 2:
            break
    n = p * q
    n2 = n * n
    while True:
        x = gmpy2.mpz(secrets.randbelow(int(n) - 2)) + 2
        if gmpy2.gcd(x, n) == 1:
            break
    h = (-x * x) % n
    hs = gmpy2.powmod(h, n, n2)
    public = PaillierPublicKey(int(n), int(hs))
    return public, PaillierPrivateKey(int(p), int(q), public)
