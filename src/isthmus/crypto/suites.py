"""Pluggable signature suites, one per BFIA ``auth_type``.

A contract fixes the suite each side signs with, so keys always travel together with
their suite name: loading a public key states the suite it must belong to, and a key
of another kind is refused rather than silently used, which would let a peer
downgrade the agreed algorithm. Private keys, by contrast, are our own files, so their
suite is read off the key itself and checked against configuration by the caller.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from isthmus.crypto import der, sm2
from isthmus.wire.errors import InvalidKey, UnknownSuite

DEFAULT_AUTH_TYPE: Final = "ED25519"

_RSA_BITS: Final = 3072
_RSA_MIN_BITS: Final = 2048  # below this RSA is no longer a credible identity key
_RSA_PSS: Final = padding.PSS(
    mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH
)
_ECDSA: Final = ec.ECDSA(hashes.SHA256())


class PublicKey(abc.ABC):
    """A peer's verification key, bound to the suite its contract agreed."""

    auth_type: ClassVar[str]

    @abc.abstractmethod
    def verify(self, signature: bytes, message: bytes) -> bool:
        """False, never an exception, for any signature that does not verify: the bytes
        come from the network, and callers must not be able to be crashed by them."""

    @abc.abstractmethod
    def _spki_der(self) -> bytes: ...

    def to_pem(self) -> str:
        return der.pem_encode("PUBLIC KEY", self._spki_der())

    def fingerprint(self) -> str:
        """Over our canonical re-encoding, so the same key pasted as a compressed point
        or with different PEM wrapping still has one fingerprint."""
        return hashlib.sha256(self._spki_der()).hexdigest()


class PrivateKey(abc.ABC):
    """This node's signing key."""

    auth_type: ClassVar[str]

    @abc.abstractmethod
    def sign(self, message: bytes) -> bytes: ...

    @abc.abstractmethod
    def public_key(self) -> PublicKey: ...

    @abc.abstractmethod
    def to_pem(self) -> bytes:
        """Unencrypted PKCS #8: the node protects the file by its 0600 mode instead,
        so it can start unattended."""


def _pkcs8_pem(
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki(key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- ED25519 -------------------------------------------------------------------------


class _Ed25519PublicKey(PublicKey):
    auth_type = "ED25519"

    def __init__(self, key: ed25519.Ed25519PublicKey) -> None:
        self._key = key

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def _spki_der(self) -> bytes:
        return _spki(self._key)


class _Ed25519PrivateKey(PrivateKey):
    auth_type = "ED25519"

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> _Ed25519PrivateKey:
        return cls(ed25519.Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def public_key(self) -> PublicKey:
        return _Ed25519PublicKey(self._key.public_key())

    def to_pem(self) -> bytes:
        return _pkcs8_pem(self._key)


# --- SHA256_ECDSA (P-256) ------------------------------------------------------------


class _EcdsaPublicKey(PublicKey):
    auth_type = "SHA256_ECDSA"

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self._key = key

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self._key.verify(signature, message, _ECDSA)
        except (InvalidSignature, ValueError):
            return False
        return True

    def _spki_der(self) -> bytes:
        return _spki(self._key)


class _EcdsaPrivateKey(PrivateKey):
    auth_type = "SHA256_ECDSA"

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> _EcdsaPrivateKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, _ECDSA)

    def public_key(self) -> PublicKey:
        return _EcdsaPublicKey(self._key.public_key())

    def to_pem(self) -> bytes:
        return _pkcs8_pem(self._key)


# --- SHA256_RSA_PSS ------------------------------------------------------------------


class _RsaPssPublicKey(PublicKey):
    auth_type = "SHA256_RSA_PSS"

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        self._key = key

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self._key.verify(signature, message, _RSA_PSS, hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True

    def _spki_der(self) -> bytes:
        return _spki(self._key)


class _RsaPssPrivateKey(PrivateKey):
    auth_type = "SHA256_RSA_PSS"

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> _RsaPssPrivateKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS))

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, _RSA_PSS, hashes.SHA256())

    def public_key(self) -> PublicKey:
        return _RsaPssPublicKey(self._key.public_key())

    def to_pem(self) -> bytes:
        return _pkcs8_pem(self._key)


# --- SM2_SM3 -------------------------------------------------------------------------


class _Sm2PublicKey(PublicKey):
    auth_type = "SM2_SM3"

    def __init__(self, point: sm2.Sm2Point) -> None:
        self._point = point

    def verify(self, signature: bytes, message: bytes) -> bool:
        return sm2.verify(self._point, message, signature)

    def _spki_der(self) -> bytes:
        return sm2.public_key_to_der(self._point)


class _Sm2PrivateKey(PrivateKey):
    auth_type = "SM2_SM3"

    def __init__(self, scalar: int) -> None:
        self._scalar = scalar
        self._public = sm2.public_point(scalar)  # also range-checks the scalar

    @classmethod
    def generate(cls) -> _Sm2PrivateKey:
        return cls(sm2.generate_private_scalar())

    def sign(self, message: bytes) -> bytes:
        return sm2.sign(self._scalar, message, public=self._public)

    def public_key(self) -> PublicKey:
        return _Sm2PublicKey(self._public)

    def to_pem(self) -> bytes:
        return sm2.private_key_to_pem(self._scalar)


# --- registry ------------------------------------------------------------------------


def _check_rsa_size(key_size: int) -> None:
    if key_size < _RSA_MIN_BITS:
        raise InvalidKey(f"RSA key of {key_size} bits is below the {_RSA_MIN_BITS}-bit minimum")


def _load_ed25519_public(pem: bytes) -> PublicKey:
    key = _load_pem_public(pem)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise InvalidKey("not an Ed25519 public key")
    return _Ed25519PublicKey(key)


def _load_ecdsa_public(pem: bytes) -> PublicKey:
    key = _load_pem_public(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidKey("not an ECDSA P-256 public key")
    return _EcdsaPublicKey(key)


def _load_rsa_public(pem: bytes) -> PublicKey:
    key = _load_pem_public(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidKey("not an RSA public key")
    _check_rsa_size(key.key_size)
    return _RsaPssPublicKey(key)


def _load_sm2_public(pem: bytes) -> PublicKey:
    return _Sm2PublicKey(sm2.public_key_from_pem(pem))


def _load_pem_public(pem: bytes) -> PublicKeyTypes:
    try:
        return serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"not a usable public key PEM: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Suite:
    generate: Callable[[], PrivateKey]
    load_public: Callable[[bytes], PublicKey]


_SUITES: Final = MappingProxyType(
    {
        "ED25519": _Suite(_Ed25519PrivateKey.generate, _load_ed25519_public),
        "SHA256_ECDSA": _Suite(_EcdsaPrivateKey.generate, _load_ecdsa_public),
        "SHA256_RSA_PSS": _Suite(_RsaPssPrivateKey.generate, _load_rsa_public),
        "SM2_SM3": _Suite(_Sm2PrivateKey.generate, _load_sm2_public),
    }
)

_ALIASES: Final = MappingProxyType(
    {"SM2": "SM2_SM3", "ECDSA_P256": "SHA256_ECDSA", "RSA_PSS": "SHA256_RSA_PSS"}
)


def supported_auth_types() -> tuple[str, ...]:
    return tuple(_SUITES)


def normalize_auth_type(name: str) -> str:
    """The canonical suite name, so contracts and headers compare by plain equality."""
    upper = name.upper()
    canonical = _ALIASES.get(upper, upper)
    if canonical not in _SUITES:
        raise UnknownSuite(
            f"unknown auth_type {name!r}",
            details={"supported": list(_SUITES)},
        )
    return canonical


def generate_private_key(auth_type: str = DEFAULT_AUTH_TYPE) -> PrivateKey:
    return _SUITES[normalize_auth_type(auth_type)].generate()


def load_private_key(pem: bytes) -> PrivateKey:
    """Only keys some suite can use are accepted: P-256 but no other curve, RSA of at
    least 2048 bits, Ed25519 and SM2. Encrypted keys are refused; see ``to_pem``."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # The OpenSSL behind ``cryptography`` refuses the SM2 curve, so SM2 keys land here.
        try:
            return _Sm2PrivateKey(sm2.private_key_from_pem(pem))
        except InvalidKey as sm2_exc:
            raise InvalidKey(
                "not a private key of any supported suite",
                details={"reason": str(exc), "sm2_reason": sm2_exc.message},
            ) from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return _Ed25519PrivateKey(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidKey(f"EC private key on unsupported curve {key.curve.name}")
        return _EcdsaPrivateKey(key)
    if isinstance(key, rsa.RSAPrivateKey):
        _check_rsa_size(key.key_size)
        return _RsaPssPrivateKey(key)
    raise InvalidKey(f"private key type {type(key).__name__} belongs to no suite")


def load_public_key(pem: str, auth_type: str) -> PublicKey:
    """The key must be of the kind ``auth_type`` names; see the module docstring."""
    suite = _SUITES[normalize_auth_type(auth_type)]
    try:
        data = pem.strip().encode("ascii")
    except UnicodeEncodeError:
        raise InvalidKey("public key PEM is not ASCII") from None
    return suite.load_public(data)
