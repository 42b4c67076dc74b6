"""Access keys of the node's UAS endpoint (``tee_access_keys``).

A key is a public id (``tak_`` + 16 hex digits) and a secret shown once, at creation;
only the secret's SHA-256 is stored (``crypto.digests.token_digest``), so a copy of the
database hands out no working key. ``check`` compares digests in constant time and does
the same work for an unknown key as for a known one, so the answer's timing tells a
caller nothing about which key ids exist.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from isthmus.crypto.digests import token_digest
from isthmus.store.schema import TeeAccessKeyRow
from isthmus.wire.clock import now_ms

KEY_PREFIX = "tak_"
SECRET_PREFIX = "tas_"  # noqa: S105 - a prefix, not a secret
#: Compared against when the key id is unknown, so both paths digest and compare.
_NO_DIGEST = token_digest("no such access key")


class KeyCheck(StrEnum):
    """Why an access key was refused (or ``OK``): ``unknown`` and ``wrong_secret`` are
    reported to the caller alike; the audit log keeps the difference."""

    OK = "ok"
    UNKNOWN = "unknown"
    WRONG_SECRET = "wrong_secret"  # noqa: S105 - a reason, not a secret
    REVOKED = "revoked"


@dataclass(frozen=True)
class AccessKeyView:
    """An access key as listed: never its secret, nor the secret's digest."""

    access_key: str
    label: str
    created_at: int
    revoked_at: int | None


def _view(row: TeeAccessKeyRow) -> AccessKeyView:
    return AccessKeyView(row.access_key, row.label, row.created_at, row.revoked_at)


class TeeAccessKeyRepository:
    def create(self, session: Session, *, label: str = "") -> tuple[AccessKeyView, str]:
        """A new key and its secret (the only time the secret exists outside its holder)."""
        key = KEY_PREFIX + secrets.token_hex(8)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        row = TeeAccessKeyRow(
            access_key=key,
            secret_sha256=token_digest(secret),
            label=label,
            created_at=now_ms(),
            revoked_at=None,
        )
        session.add(row)
        return _view(row), secret

    def list(self, session: Session) -> list[AccessKeyView]:
        rows = session.query(TeeAccessKeyRow).order_by(TeeAccessKeyRow.created_at).all()
        return [_view(r) for r in rows]

    def revoke(self, session: Session, access_key: str) -> AccessKeyView | None:
        """Revoke at once (idempotent); None when there is no such key."""
        row = session.get(TeeAccessKeyRow, access_key[:64])
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = now_ms()
        return _view(row)

    def check(self, session: Session, access_key: str, secret: str) -> KeyCheck:
        """Whether ``secret`` is ``access_key``'s and the key is not revoked."""
        row = session.get(TeeAccessKeyRow, access_key[:64])
        known = row.secret_sha256 if row is not None else _NO_DIGEST
        matches = hmac.compare_digest(known, token_digest(secret))
        if row is None:
            return KeyCheck.UNKNOWN
        if not matches:
            return KeyCheck.WRONG_SECRET
        if row.revoked_at is not None:
            return KeyCheck.REVOKED
        return KeyCheck.OK
