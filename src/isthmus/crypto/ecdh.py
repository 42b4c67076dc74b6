"""ECDH-PSI suites: hash an item to a curve point, and mask a point with a secret scalar.

Only the operations PSI needs, over encoded points (bytes in, bytes out), so a batch of
thousands of points crosses the C boundary without Python objects per coordinate.

* ``CURVE25519`` + SHA-256 + direct hash (SecretFlow's suite, digest §5.2): the point is
  SHA-256 of the item, used as the 32-byte little-endian u-coordinate; masking is X25519
  (libsodium through PyNaCl: RFC 7748 clamping, high bit of u ignored). libsodium refuses
  a result of all zeros, which is what a low-order or zero point yields: such a point is
  an ``InvalidPoint``, never a silent match.

PyNaCl calls release the GIL, so ``mask_many`` in several threads uses several cores.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence

from nacl import bindings, exceptions


class InvalidPoint(ValueError):
    """A peer sent bytes that are not a usable point of the suite's curve."""


class EcdhSuite(ABC):
    #: (curve, hash, hash-to-curve) as the PPCA enumerations name them.
    curve: int
    hash: int
    hash2curve: int
    #: Encoded point size in bytes.
    point_bytes: int

    @abstractmethod
    def new_secret(self) -> bytes:
        """A fresh secret scalar, encoded."""

    @abstractmethod
    def hash_to_point(self, item: bytes) -> bytes:
        """The item's point, encoded."""

    @abstractmethod
    def mask(self, secret: bytes, point: bytes) -> bytes:
        """``secret · point``, encoded; InvalidPoint for a point that must be refused."""

    def hash_and_mask(self, secret: bytes, items: Sequence[bytes]) -> list[bytes]:
        return [self.mask(secret, self.hash_to_point(item)) for item in items]

    def mask_many(self, secret: bytes, points: Sequence[bytes]) -> list[bytes]:
        return [self.mask(secret, point) for point in points]


class Curve25519Sha256Direct(EcdhSuite):
    curve = 1  # CURVE_TYPE_CURVE25519
    hash = 11  # HASH_TYPE_SHA_256
    hash2curve = 3  # HASH_TO_CURVE_STRATEGY_DIRECT_HASH_AS_POINT_X
    point_bytes = 32

    def new_secret(self) -> bytes:
        return os.urandom(32)

    def hash_to_point(self, item: bytes) -> bytes:
        return hashlib.sha256(item).digest()

    def mask(self, secret: bytes, point: bytes) -> bytes:
        if len(point) != 32:
            raise InvalidPoint(f"an X25519 point is 32 bytes, not {len(point)}")
        try:
            return bytes(bindings.crypto_scalarmult(secret, point))
        except exceptions.RuntimeError as exc:  # libsodium: the result is all zeros
            raise InvalidPoint("low-order X25519 point") from exc

    def hash_and_mask(self, secret: bytes, items: Sequence[bytes]) -> list[bytes]:
        scalarmult, sha256 = bindings.crypto_scalarmult, hashlib.sha256
        try:
            return [bytes(scalarmult(secret, sha256(item).digest())) for item in items]
        except exceptions.RuntimeError as exc:
            raise InvalidPoint("an item hashed to a low-order X25519 point") from exc

    def mask_many(self, secret: bytes, points: Sequence[bytes]) -> list[bytes]:
        scalarmult = bindings.crypto_scalarmult
        out: list[bytes] = []
        for point in points:
            if len(point) != 32:
                raise InvalidPoint(f"an X25519 point is 32 bytes, not {len(point)}")
            try:
                out.append(bytes(scalarmult(secret, point)))
            except exceptions.RuntimeError as exc:
                raise InvalidPoint("low-order X25519 point") from exc
        return out


CURVE25519 = Curve25519Sha256Direct()
