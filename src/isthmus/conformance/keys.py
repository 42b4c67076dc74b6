"""A target's public key from a PEM alone: the target file names no suite, so every
suite this build supports is tried (a key of one kind never loads as another)."""

from __future__ import annotations

from isthmus.crypto import PublicKey, load_public_key, supported_auth_types
from isthmus.wire.errors import InvalidKey


def load_any_public_key(pem: str | None) -> PublicKey | None:
    if not pem:
        return None
    for auth_type in supported_auth_types():
        try:
            return load_public_key(pem, auth_type)
        except InvalidKey:
            continue
    return None
