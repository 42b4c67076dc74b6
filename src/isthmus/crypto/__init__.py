"""Signature suites for node identity, selected by the BFIA contract's ``auth_type``.

Everything above this layer handles keys only through :class:`PublicKey` and
:class:`PrivateKey`, so adding a suite never touches signing or authentication code.
SM2 point arithmetic is public in :mod:`isthmus.crypto.sm2` for SM2 ECDH-PSI.
"""

from isthmus.crypto.suites import (
    DEFAULT_AUTH_TYPE,
    PrivateKey,
    PublicKey,
    generate_private_key,
    load_private_key,
    load_public_key,
    normalize_auth_type,
    supported_auth_types,
)

__all__ = [
    "DEFAULT_AUTH_TYPE",
    "PrivateKey",
    "PublicKey",
    "generate_private_key",
    "load_private_key",
    "load_public_key",
    "normalize_auth_type",
    "supported_auth_types",
]
