"""Errors of the PHE engine: each names the value at fault, never a secret.

They derive from :class:`~isthmus.wire.errors.CryptoError`, so a component that lets one
escape reports it as a key/crypto error in the BFIA envelope rather than as an internal
error: a partner's malformed ciphertext is the partner's fault, not ours.
"""

from __future__ import annotations

from isthmus.wire.errors import CryptoError


class PheError(CryptoError):
    """Base of every error the PHE engine raises on purpose."""


class KeySizeRefused(PheError):
    """A Paillier modulus size below the minimum (2048 bits outside tests) or unsupported."""


class PlaintextOutOfRange(PheError):
    """A plaintext outside the signed range ``[-(n-1)/2, (n-1)/2]`` of the key."""


class MalformedCiphertext(PheError):
    """A ciphertext that is not an element of ``Z*_{n^2}`` (a partner sent garbage)."""


class EncodingError(PheError):
    """A real number that the fixed-point encoding cannot represent (NaN, inf, too large)."""


class InvalidPoint(MalformedCiphertext):
    """A received EC point that is not in the group (off the curve, non-canonical, or
    outside Ed25519's prime-order subgroup); the message names the field."""


class UnsupportedCurve(PheError):
    """An EC-ElGamal curve other than SM2 (2) and Ed25519 (3)."""
