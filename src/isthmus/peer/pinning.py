"""Outgoing calls are pinned: they reach the partner's own TLS certificate or nobody.

Under mutual TLS every certificate from the CA is valid, and partners are addressed by
IP, so neither the chain nor the host name says *which* node answers: a server with
another certificate from the same CA at the partner's address would receive contract
queries and transfer payloads in clear. The contract pins the partner's certificate
(``peer_tls_fingerprint``, SHA-256 of its DER); ``PeerClient`` keeps one connection pool
per pin and checks the leaf of every new connection in it right after the handshake,
before a byte of the request is written (httpcore's ``connection.start_tls.complete``
trace event, which runs between the two). A connection that fails the check is closed;
connections in a pinned pool were all checked, so reusing them is safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

#: target node id → the SHA-256 (hex) its server must show, or None when its contract
#: pins none (a partner outside TLS, or the first contact of an apply).
PinLookup = Callable[[str], str | None]
TraceHook = Callable[[str, dict[str, Any]], Awaitable[None]]

START_TLS_DONE = "connection.start_tls.complete"


def cert_fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


class PinMismatch(Exception):
    """The server showed another certificate (or none): nothing was sent to it."""

    def __init__(self, expected: str, shown: str | None) -> None:
        super().__init__(f"server certificate {shown or '(none)'} is not the pinned {expected}")
        self.expected = expected
        self.shown = shown


def pin_check(pin: str) -> TraceHook:
    """An httpcore trace hook that refuses any new TLS connection whose server
    certificate is not ``pin``; it closes the connection before raising."""
    expected = pin.lower()

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event != START_TLS_DONE:
            return
        stream = info.get("return_value")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        shown = cert_fingerprint(der) if der else None
        if shown != expected:
            if stream is not None:
                await stream.aclose()
            raise PinMismatch(expected, shown)

    return trace
