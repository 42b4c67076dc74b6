"""Expose the TLS client certificate to the app, per the ASGI TLS extension.

uvicorn verifies client certificates (``ssl_cert_reqs``) but does not put them in the
ASGI scope, and the app needs the certificate to check the pin of the caller's contract.
This protocol subclass adds ``scope["extensions"]["tls"]["client_cert_chain"]`` (PEM),
the field the ASGI TLS extension defines for it.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class TlsAwareHttpToolsProtocol(HttpToolsProtocol):
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
