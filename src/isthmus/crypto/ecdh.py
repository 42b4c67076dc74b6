"""ECDH-PSI suites: hash an item to a curve point, and mask a point with a secret scalar.

Only the operations PSI needs, over encoded points (bytes in, bytes out), so a batch of
thousands of points crosses the C boundary without Python objects per coordinate.

* ``CURVE25519`` + SHA-256 + direct hash (SecretFlow's suite, digest §5.2): the point is
  SHA-256 of the item, used as the 32-byte little-endian u-coordinate; masking is X25519
  (libsodium through PyNaCl: RFC 7748 clamping, high bit of u ignored). libsodium refuses
  a result of all zeros, which is what a low-order or zero point yields: such a point is
  an ``InvalidPoint``, never a silent match.
* ``SM2`` + SHA-256 + try-and-rehash (SecretFlow's): x = SHA-256(item) mod p; if no
  point has that x, x = SHA-256(x as 32 big-endian bytes) mod p, again; the point is the
  one with even y, encoded X9.62-compressed (33 bytes). The scalar is 32 random bytes,
  a big-endian integer in [1, n).
* ``SM2`` + SM3 + try-and-increment (the PPCA text's mandatory suite; no peer
  implementation was found to match, so this is our reading, documented in
  docs/psi.md): x = SM3(item) mod p, then x + 1, x + 2, … until a point has it; even y.

PyNaCl and ctypes calls release the GIL, so ``mask_many`` in several threads uses
several cores. X25519 batches go to Intel's multi-buffer implementation where it is
installed and the CPU supports it (``isthmus.crypto.x25519_mb``), else to libsodium; SM2
multiplication is OpenSSL's (``isthmus.crypto.openssl_ec``).
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import gmpy2
from nacl import bindings, exceptions

from isthmus.crypto import openssl_ec, x25519_mb
from isthmus.crypto.openssl_ec import Curve
from isthmus.crypto.sm2 import A as SM2_A
from isthmus.crypto.sm2 import B as SM2_B
from isthmus.crypto.sm2 import P as SM2_P


def _has_point(x: int) -> bool:
    """Some point of SM2 has this x: x³ + ax + b is 0 or a square mod p."""
    return bool(gmpy2.jacobi((x * x * x + SM2_A * x + SM2_B) % SM2_P, SM2_P) >= 0)


class InvalidPoint(ValueError):
    """A peer sent bytes that are not a usable point of the suite's curve."""


class EcdhSuite(ABC):
    #: (curve, hash, hash-to-curve) as the PPCA enumerations name them.
    curve: int
    hash: int
    hash2curve: int
    #: Encoded point size in bytes.
    point_bytes: int
    #: Where the low-order bits of X sit in the encoding (the PPCA truncation keeps
    #: those): at the start of X25519's little-endian u, at the end of SM2's big-endian X.
    low_order_at_end: bool

    @abstractmethod
    def new_secret(self) -> bytes:
        """A fresh secret scalar, encoded."""

    @abstractmethod
    def hash_to_point(self, item: bytes) -> bytes:
        """The item's point, encoded."""

    @abstractmethod
    def mask_many(self, secret: bytes, points: Sequence[bytes]) -> list[bytes]:
        """``secret · point`` for each point, encoded; InvalidPoint if any point must be
        refused. Suites implement the batch: that is where the speed is."""

    def mask(self, secret: bytes, point: bytes) -> bytes:
        return self.mask_many(secret, [point])[0]

    def hash_and_mask(self, secret: bytes, items: Sequence[bytes]) -> list[bytes]:
        return self.mask_many(secret, [self.hash_to_point(item) for item in items])

    def mask_packed(self, secret: bytes, data: bytes | memoryview) -> bytes:
        """``mask_many`` over points packed end to end (``point_bytes`` each), the
        products packed the same way: the form batches travel in."""
        width = self.point_bytes
        if len(data) % width:
            raise InvalidPoint(f"{len(data)} bytes is not a whole number of points")
        points = [bytes(data[i : i + width]) for i in range(0, len(data), width)]
        return b"".join(self.mask_many(secret, points))

    def hash_and_mask_packed(self, secret: bytes, items: Sequence[bytes]) -> bytes:
        """``hash_and_mask``, the products packed end to end."""
        return b"".join(self.hash_and_mask(secret, items))

    def hash_packed(self, items: Sequence[bytes]) -> bytes | None:
        """The items' points packed end to end where hashing is a step of its own
        (then ``mask_packed`` of it equals ``hash_and_mask_packed``); None where the
        suite fuses hashing into the multiplication (SM2 decodes its candidates)."""
        return None


class Curve25519Sha256Direct(EcdhSuite):
    curve = 1  # CURVE_TYPE_CURVE25519
    hash = 11  # HASH_TYPE_SHA_256
    hash2curve = 3  # HASH_TO_CURVE_STRATEGY_DIRECT_HASH_AS_POINT_X
    point_bytes = 32
    low_order_at_end = False

    def new_secret(self) -> bytes:
        return os.urandom(32)

    def hash_to_point(self, item: bytes) -> bytes:
        return hashlib.sha256(item).digest()

    def mask_many(self, secret: bytes, points: Sequence[bytes]) -> list[bytes]:
        for point in points:
            if len(point) != 32:
                raise InvalidPoint(f"an X25519 point is 32 bytes, not {len(point)}")
        engine = x25519_mb.load()
        if engine is not None:  # eight lanes per call (AVX-512 IFMA)
            products = engine.scalarmult_many(secret, points)
            if any(p is None for p in products):
                raise InvalidPoint("low-order X25519 point")
            return products  # type: ignore[return-value]
        scalarmult = bindings.crypto_scalarmult
        try:
            return [bytes(scalarmult(secret, point)) for point in points]
        except exceptions.RuntimeError as exc:
            raise InvalidPoint("low-order X25519 point") from exc

    def mask_packed(self, secret: bytes, data: bytes | memoryview) -> bytes:
        engine = x25519_mb.load()
        if engine is None:
            return super().mask_packed(secret, data)
        if len(data) % 32:
            raise InvalidPoint(f"{len(data)} bytes is not a whole number of X25519 points")
        products, refused = engine.scalarmult_packed(secret, data)
        if refused:
            raise InvalidPoint("low-order X25519 point")
        return products

    def hash_packed(self, items: Sequence[bytes]) -> bytes:
        sha256 = hashlib.sha256
        return b"".join([sha256(item).digest() for item in items])

    def hash_and_mask_packed(self, secret: bytes, items: Sequence[bytes]) -> bytes:
        return self.mask_packed(secret, self.hash_packed(items))


class Sm2Suite(EcdhSuite):
    curve = 2  # CURVE_TYPE_SM2
    point_bytes = 33
    low_order_at_end = True

    def __init__(self, *, sm3_increment: bool) -> None:
        self.sm3_increment = sm3_increment
        self.hash = 1 if sm3_increment else 11  # HASH_TYPE_SM3 | HASH_TYPE_SHA_256
        self.hash2curve = 1 if sm3_increment else 2  # TRY_AND_INCREMENT | TRY_AND_REHASH

    @property
    def _curve(self) -> Curve:
        return openssl_ec.sm2()

    def new_secret(self) -> bytes:
        while True:
            scalar = os.urandom(32)
            if self._curve.valid_scalar(scalar):
                return scalar

    def _candidates(self, item: bytes) -> Iterator[bytes]:
        """The encodings hash-to-curve would try for ``item``, in order (unbounded),
        less those whose x has no point: x³ + ax + b not a square mod p (a Jacobi
        symbol, about 1 µs, where OpenSSL's failed decoding costs a square root)."""
        if self.sm3_increment:
            x = int.from_bytes(hashlib.new("sm3", item).digest(), "big") % SM2_P
            while True:
                if _has_point(x):
                    yield b"\x02" + x.to_bytes(32, "big")
                x = (x + 1) % SM2_P
        x = int.from_bytes(hashlib.sha256(item).digest(), "big") % SM2_P
        while True:
            raw = x.to_bytes(32, "big")
            if _has_point(x):
                yield b"\x02" + raw
            x = int.from_bytes(hashlib.sha256(raw).digest(), "big") % SM2_P

    def hash_and_mask(self, secret: bytes, items: Sequence[bytes]) -> list[bytes]:
        """Hash and multiply in one pass: each item's point is decoded once."""
        products = self._curve.multiply_first_valid(
            secret, (self._candidates(item) for item in items)
        )
        if any(p is None for p in products):
            raise InvalidPoint("an item hashed to a point whose product is the point at infinity")
        return products  # type: ignore[return-value]

    def hash_to_point(self, item: bytes) -> bytes:
        curve = self._curve
        if self.sm3_increment:
            x = int.from_bytes(hashlib.new("sm3", item).digest(), "big") % SM2_P
            while not curve.is_on_curve(encoded := b"\x02" + x.to_bytes(32, "big")):
                x = (x + 1) % SM2_P
            return encoded
        x = int.from_bytes(hashlib.sha256(item).digest(), "big") % SM2_P
        while not curve.is_on_curve(encoded := b"\x02" + x.to_bytes(32, "big")):
            x = int.from_bytes(hashlib.sha256(x.to_bytes(32, "big")).digest(), "big") % SM2_P
        return encoded

    def mask_many(self, secret: bytes, points: Sequence[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for point, product in zip(points, self._curve.multiply(secret, points), strict=True):
            if product is None or len(point) != 33:
                raise InvalidPoint(
                    "not a compressed SM2 point, or the product is the point at infinity"
                )
            out.append(product)
        return out


CURVE25519 = Curve25519Sha256Direct()
SM2_SHA256_REHASH = Sm2Suite(sm3_increment=False)
SM2_SM3_INCREMENT = Sm2Suite(sm3_increment=True)
