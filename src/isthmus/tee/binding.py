"""The 64-byte report-data layout that binds evidence to a public key and a nonce.

``[0:32]`` is the user-data field (the nonce when there is one), ``[32:64]`` the SHA-256
of the bound public key's *canonical* PEM: its SubjectPublicKeyInfo DER re-armoured with
64-column lines. Hashing the canonical form, not the bytes someone pasted, means the
same key written with CRLF, other line widths or surrounding text hashes the same, and
a verifier needs only the key, not the exact text the attester hashed.

**The guarantee:** ``public_key_hash`` depends on the key's DER only; input that holds
no ``PUBLIC KEY`` block (or DER that is not one SEQUENCE) is ``TeeMalformed``.
"""

from __future__ import annotations

import hashlib
from typing import Final

from isthmus.crypto import der
from isthmus.wire.errors import InvalidKey, TeeMalformed

REPORT_DATA_SIZE: Final = 64
FIELD_SIZE: Final = 32


def _spki_der(pem: str | bytes) -> bytes:
    raw = pem.encode("utf-8", "replace") if isinstance(pem, str) else bytes(pem)
    if raw[:1] == b"\x30":
        spki = raw
    else:
        try:
            label, spki = der.pem_decode(raw)
        except InvalidKey as exc:
            raise TeeMalformed(
                f"public key: {exc.message}", details={"key": "pem_public_key"}
            ) from None
        if label != "PUBLIC KEY":
            raise TeeMalformed(
                f"public key: a {label} block, not PUBLIC KEY", details={"key": "pem_public_key"}
            )
    try:
        der.decode_single(spki, der.SEQUENCE)
    except (InvalidKey, ValueError, IndexError):
        raise TeeMalformed(
            "public key: not a DER SubjectPublicKeyInfo", details={"key": "pem_public_key"}
        ) from None
    return spki


def canonical_pem(pem: str | bytes) -> bytes:
    """The key re-armoured: ``-----BEGIN PUBLIC KEY-----\\n``, base64 in 64-column
    lines, ``-----END PUBLIC KEY-----\\n`` (PEM text or SPKI DER accepted)."""
    return der.pem_encode("PUBLIC KEY", _spki_der(pem)).encode("ascii")


def public_key_hash(pem: str | bytes) -> bytes:
    return hashlib.sha256(canonical_pem(pem)).digest()


def _field(name: str, value: bytes) -> bytes:
    if len(value) > FIELD_SIZE:
        raise TeeMalformed(
            f"{name}: {len(value)} bytes, at most {FIELD_SIZE} fit the report data",
            details={"key": name},
        )
    return value.ljust(FIELD_SIZE, b"\x00")


def user_data_field(*, user_data: bytes = b"", nonce: bytes = b"") -> bytes:
    """``report_data[0:32]``: the nonce if given, else the user data, zero-padded; both
    given: SHA-256(nonce || user_data), so neither can be dropped unnoticed."""
    if nonce and user_data:
        return hashlib.sha256(nonce + user_data).digest()
    if nonce:
        return _field("hex_nonce", nonce)
    return _field("hex_user_data", user_data)


def report_data(
    *, public_key_pem: str | bytes | None, user_data: bytes = b"", nonce: bytes = b""
) -> bytes:
    key_field = public_key_hash(public_key_pem) if public_key_pem else bytes(FIELD_SIZE)
    return user_data_field(user_data=user_data, nonce=nonce) + key_field


def binding_attributes(data: bytes) -> dict[str, str]:
    """The attributes every platform derives from its 64-byte report data."""
    if len(data) != REPORT_DATA_SIZE:
        raise TeeMalformed(
            f"report data is {len(data)} bytes, not {REPORT_DATA_SIZE}",
            details={"key": "report_data"},
        )
    user = data[:FIELD_SIZE].hex().upper()
    return {
        "hex_user_data": user,
        "hex_nonce": user,
        "hex_hash_or_pem_pubkey": data[FIELD_SIZE:].hex().upper(),
    }
