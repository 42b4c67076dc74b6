"""The node's HTTP protocol: bounded time for a request to arrive, and the TLS client
certificate in the ASGI scope.

**Slow clients.** uvicorn bounds an idle keep-alive connection but not a request being
received: a client that sends half its headers, or declares a body it never finishes
(slowloris), holds a connection, a parser and, once the headers are in, a running ASGI
task, for ever. ``GuardedHttpToolsProtocol`` sets a deadline per request: from the
connection (or the request's first byte) until the end of its headers
(``listeners.header_timeout_s``), then until the end of its body
(``listeners.body_timeout_s``); when it fires the connection is closed, and the app, if
it was already reading, sees a disconnect and changes nothing. A request fully received
is never cut, however long the app then takes (a long-poll ``pop`` waits in peace).
Every listener of the node (interconn, admin, transport) uses it.

**TLS client certificate.** uvicorn verifies client certificates (``ssl_cert_reqs``) but
does not put them in the ASGI scope, and the app needs the certificate to check the pin
of the caller's contract. ``TlsAwareHttpToolsProtocol`` adds
``scope["extensions"]["tls"]["client_cert_chain"]`` (PEM), the field the ASGI TLS
extension defines for it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("isthmus.http")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with a header and a body deadline per request (see the module).

    A deadline is a number, set at each step of a request; the timer that enforces it
    is lazy: at most one per connection, re-armed only when it fires early (or when a
    new deadline comes before it). Creating and cancelling a timer twice per request
    cost several per cent of the transport's CPU at thousands of requests a second."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    _guard: asyncio.TimerHandle | None = None
    _guard_at: float = 0.0
    _deadline: float | None = None
    _waiting_for: str = "headers"

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, "headers")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout_s, "headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout_s, "body")

    def on_message_complete(self) -> None:
        self._deadline = None  # a stale timer that fires finds nothing to enforce
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline = None
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None
        super().connection_lost(exc)

    def _arm(self, seconds: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + seconds
        self._waiting_for = what
        if self._guard is not None and self._guard_at <= self._deadline:
            return  # the pending timer fires first and re-arms for the rest
        if self._guard is not None:
            self._guard.cancel()
        self._guard_at = self._deadline
        self._guard = loop.call_at(self._deadline, self._check)

    def _check(self) -> None:
        self._guard = None
        deadline = self._deadline
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < deadline:
            self._guard_at = deadline
            self._guard = loop.call_at(deadline, self._check)
            return
        self._deadline = None
        seconds = self.header_timeout_s if self._waiting_for == "headers" else self.body_timeout_s
        if not self.transport.is_closing():
            log.info(
                "closed a connection from %s: its request %s did not arrive within %.0f s",
                self.client[0] if self.client else "?",
                self._waiting_for,
                seconds,
            )
            self.transport.close()


class TlsAwareHttpToolsProtocol(GuardedHttpToolsProtocol):
    _client_chain: list[str]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._client_chain = []
        ssl_object: Any = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                self._client_chain = [ssl.DER_cert_to_PEM_cert(der)]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._client_chain:
            self.scope["extensions"] = {
                "tls": {
                    "client_cert_chain": list(self._client_chain),
                    "tls_version": None,
                    "cipher_suite": None,
                    "server_cert": None,
                }
            }


def guarded(
    protocol: type[GuardedHttpToolsProtocol], *, header_timeout_s: float, body_timeout_s: float
) -> type[GuardedHttpToolsProtocol]:
    """``protocol`` with these deadlines (uvicorn takes a class, and builds one instance
    per connection)."""
    return type(
        protocol.__name__,
        (protocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )


def grpc_client_cert_der(context: Any) -> bytes | None:
    """The DER client certificate a gRPC call came with over mutual TLS (None without
    one): what the east-west gRPC faces compare with a contract's pin."""
    pems = (context.auth_context() or {}).get("x509_pem_cert") or []
    if not pems:
        return None
    pem = pems[0]
    return ssl.PEM_cert_to_DER_cert(pem.decode("ascii") if isinstance(pem, bytes) else pem)
