"""Digests of secrets that are stored in place of the secrets themselves.

A bearer token (a transport session's, an MPRAC permit's, an operator's) is kept only as
the hex SHA-256 of its UTF-8 bytes: a copy of the database does not hand out working
tokens, and every layer that looks a token up digests it the same way, here.
"""

from __future__ import annotations

import hashlib

__all__ = ["token_digest"]


def token_digest(token: str) -> str:
    """The hex SHA-256 of ``token``: what the store keeps and compares, never the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
