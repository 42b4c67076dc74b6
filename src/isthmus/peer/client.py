"""The east-west client: every call a node makes to a partner goes through here.

One small interface (``PeerClient.call``) over an ``httpx.AsyncBaseTransport``, so tests
swap in an in-process transport and production gets real sockets, mutual TLS included,
without a second code path. Each attempt is signed afresh (new nonce and timestamp),
which is what makes retrying safe against the partner's replay cache.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from isthmus.peer.address import AddressPolicy, AddressRefused
from isthmus.peer.pinning import PinLookup, PinMismatch, cert_fingerprint, pin_check
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.wire import errors
from isthmus.wire.envelope import Envelope
from isthmus.wire.jsonbody import loads_bounded

#: How long an address that passed the full check is called without checking it again.
ADDRESS_RECHECK_S = 30.0
MAX_CLEARED_ADDRESSES = 1024


@dataclass(frozen=True)
class RetryPolicy:
    """Retries only for failures where the partner cannot have acted: no connection."""

    attempts: int = 3
    backoff_s: float = 0.2


@dataclass(frozen=True)
class TlsClientConfig:
    """Client side of mutual TLS: our certificate and the CAs we trust for partners."""

    cert_file: str
    key_file: str
    ca_file: str

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        # Partners are addressed by whatever the contract says (often an IP); identity is
        # proven by the pinned certificate fingerprint and the request signature instead.
        ctx.check_hostname = False
        return ctx


class _Auto:
    """``pin=AUTO``: the pin of the target's contract (``PeerClient(pins=...)``)."""


AUTO = _Auto()
Pin = str | None | _Auto


class PeerClient:
    """Signed BFIA calls to partner nodes.

    Every call to a partner whose contract pins a TLS certificate goes through a pool
    that checks that certificate on every new connection before sending anything
    (``isthmus.peer.pinning``); such a partner is never called over plain HTTP."""

    def __init__(
        self,
        identity: NodeIdentity,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        tls: TlsClientConfig | None = None,
        addresses: AddressPolicy | None = None,
        pins: PinLookup | None = None,
    ) -> None:
        self.identity = identity
        self.addresses = addresses or AddressPolicy()
        #: Addresses that passed the full check (a DNS lookup for a host name), until
        #: when: a call to a partner is not worth a resolution in a thread every time.
        self._cleared: dict[str, float] = {}
        self._retry = retry or RetryPolicy()
        self._pins = pins
        self._transport = transport
        self._timeout_s = timeout_s
        self._verify: ssl.SSLContext | bool = tls.context() if tls else True
        self._http = self._client()
        self._pinned: dict[str, httpx.AsyncClient] = {}

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport,
            timeout=self._timeout_s,
            verify=self._verify,
            follow_redirects=False,
        )

    def _pool(self, pin: str | None) -> httpx.AsyncClient:
        """The unpinned pool, or the pool whose every connection showed ``pin``."""
        if pin is None:
            return self._http
        pool = self._pinned.get(pin)
        if pool is None:
            pool = self._pinned[pin] = self._client()
        return pool

    def pin_for(self, target_node_id: str, pin: Pin = AUTO) -> str | None:
        if not isinstance(pin, _Auto):
            return pin.lower() if pin else None
        if not target_node_id or self._pins is None:
            return None
        found = self._pins(target_node_id)
        return found.lower() if found else None

    async def aclose(self) -> None:
        for pool in (self._http, *self._pinned.values()):
            await pool.aclose()

    async def call(
        self,
        method: str,
        address: str,
        path: str,
        *,
        target_node_id: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        signed: bool = True,
        trace_id: str | None = None,
        extra_headers: dict[str, str] | None = None,
        pin: Pin = AUTO,
    ) -> Any:
        """Send one JSON request and return the envelope's ``data``.

        Raises ``PeerUnreachable`` when no answer came, ``PeerRefused`` when the partner
        answered a non-OK code (its code and message in ``details``),
        ``PeerProtocolError`` when the answer is not a BFIA envelope, and
        ``PeerNotPinned`` when the server is not the pinned one (nothing was sent).
        ``pin``: the target's contract pin (default), or an explicit one (None = none,
        only for a first contact that carries nothing but public information).
        """
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"content-type": "application/json"} if body is not None else {}
        response = await self._send(
            method,
            address,
            path,
            target_node_id=target_node_id,
            content=content,
            params=params,
            signed=signed,
            trace_id=trace_id,
            headers={**headers, **(extra_headers or {})},
            pin=pin,
        )
        return _decode(response, method, _join(address, path))

    async def call_observed(
        self,
        method: str,
        address: str,
        path: str,
        *,
        target_node_id: str,
        body: Any = None,
        pin: Pin = AUTO,
    ) -> tuple[Any, str | None]:
        """``call``, plus the SHA-256 of the certificate the server showed (None over
        plain HTTP): what a first contact learns, so that the answers after it can be
        held to the same server."""
        data, der = await self.call_certified(
            method, address, path, target_node_id=target_node_id, body=body, pin=pin
        )
        return data, cert_fingerprint(der) if der else None

    async def call_certified(
        self,
        method: str,
        address: str,
        path: str,
        *,
        target_node_id: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        signed: bool = True,
        pin: Pin = AUTO,
    ) -> tuple[Any, bytes | None]:
        """``call``, plus the certificate (DER) the server showed, None over plain HTTP:
        for a partner that requires attestation, an RA-TLS certificate carries evidence
        (``management/attestation.py``)."""
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        response = await self._send(
            method,
            address,
            path,
            target_node_id=target_node_id,
            content=content,
            params=params,
            signed=signed,
            trace_id=None,
            headers={"content-type": "application/json"} if body is not None else {},
            pin=pin,
        )
        return _decode(response, method, _join(address, path)), _server_certificate(response)

    async def call_bytes(
        self,
        method: str,
        address: str,
        path: str,
        *,
        target_node_id: str,
        body: bytes,
        extra_headers: dict[str, str] | None = None,
    ) -> bytes:
        """Send raw bytes (transport calls) and return the raw answer of an HTTP 200.

        An error envelope (authentication refusals are JSON) raises ``PeerRefused``."""
        response = await self._send(
            method,
            address,
            path,
            target_node_id=target_node_id,
            content=body,
            params=None,
            signed=True,
            trace_id=None,
            headers={"content-type": "application/x-protobuf", **(extra_headers or {})},
        )
        if response.status_code == 200 and not response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return response.content
        _decode(response, method, _join(address, path))  # raises for an error envelope
        raise errors.PeerProtocolError(f"{method} {path}: unexpected JSON success reply")

    async def _check_address(self, address: str) -> None:
        """Before anything is resolved or sent (``isthmus.peer.address``). A verdict is
        kept ``ADDRESS_RECHECK_S``: resolution at call time is already only as good as
        the DNS answer of the moment (rebinding is out of scope there), and the transport
        forwarder calls the same partner many times a second."""
        now = asyncio.get_running_loop().time()
        if self._cleared.get(address, 0.0) > now:
            return
        try:
            await self.addresses.check(address)
        except AddressRefused as exc:
            raise errors.PeerAddressRefused(exc.message, details={"address": address}) from None
        if len(self._cleared) >= MAX_CLEARED_ADDRESSES:
            self._cleared.clear()
        self._cleared[address] = now + ADDRESS_RECHECK_S

    async def _send(
        self,
        method: str,
        address: str,
        path: str,
        *,
        target_node_id: str,
        content: bytes,
        params: dict[str, str] | None,
        signed: bool,
        trace_id: str | None,
        headers: dict[str, str],
        pin: Pin = AUTO,
    ) -> httpx.Response:
        url = _join(address, path)
        await self._check_address(address)
        expected = self.pin_for(target_node_id, pin)
        extensions: dict[str, Any] = {}
        if expected is not None:
            if urlsplit(url).scheme != "https":
                raise errors.PeerNotPinned(
                    f"{target_node_id}'s contract pins a TLS certificate but its address "
                    f"{address} is not https: not sent",
                    details={"address": address},
                )
            extensions["trace"] = pin_check(expected)
        http = self._pool(expected)
        query = urlencode(params or {})
        last_error: Exception | None = None
        for attempt in range(self._retry.attempts):
            request_headers = dict(headers)
            if signed:
                request_headers.update(
                    sign_request(
                        self.identity,
                        method=method,
                        path=urlsplit(url).path,
                        query=query,
                        target_node_id=target_node_id,
                        body=content,
                        trace_id=trace_id,
                        ptp_headers=headers,
                    )
                )
            else:
                request_headers.update(
                    {"x-source-node-id": self.identity.node_id, "x-target-node-id": target_node_id}
                )
            try:
                return await http.request(
                    method,
                    url,
                    params=params or None,
                    content=content or None,
                    headers=request_headers,
                    extensions=extensions or None,
                )
            except PinMismatch as exc:
                raise errors.PeerNotPinned(
                    f"{method} {url}: the server is not {target_node_id}'s pinned "
                    f"certificate ({exc}): nothing was sent",
                    details={"address": address, "path": path},
                ) from None
            except (httpx.InvalidURL, UnicodeEncodeError) as exc:
                raise errors.ValidationFailed(
                    f"cannot address a request to {address!r}: {exc}",
                    details={"address": address},
                ) from exc
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last_error = exc
                if attempt + 1 < self._retry.attempts:
                    await asyncio.sleep(self._retry.backoff_s * (2**attempt))
                continue
            except httpx.HTTPError as exc:
                raise errors.PeerUnreachable(
                    f"{method} {url} failed: {type(exc).__name__}: {exc}",
                    details={"address": address, "path": path},
                ) from exc
        raise errors.PeerNoConnection(
            f"{method} {url}: no connection after {self._retry.attempts} attempts: {last_error}",
            details={"address": address, "path": path},
        )


def _server_certificate(response: httpx.Response) -> bytes | None:
    stream = response.extensions.get("network_stream")
    try:
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    except (ValueError, OSError):  # the connection is already gone
        return None
    return der or None


def _join(address: str, path: str) -> str:
    base = address if "://" in address else f"http://{address}"
    return base.rstrip("/") + path


def _decode(response: httpx.Response, method: str, url: str) -> Any:
    """The ``data`` of a partner's envelope. Whatever the partner sent (huge, nested a
    million deep, not JSON, not an envelope) ends as a ``PeerError``: its fault, never
    an exception of ours."""
    try:
        envelope = Envelope.model_validate(loads_bounded(response.content, what="reply"))
    except (ValueError, TypeError, errors.RequestError) as exc:
        raise errors.PeerProtocolError(
            f"{method} {url} answered HTTP {response.status_code} without a BFIA envelope",
            details={"http_status": response.status_code, "body": response.text[:200]},
        ) from exc
    if not envelope.ok:
        raise errors.PeerRefused(
            f"{method} {url} refused: code {envelope.code}: {envelope.msg}",
            details={
                "peer_code": envelope.code,
                "peer_msg": envelope.msg,
                "http_status": response.status_code,
            },
        )
    return envelope.data
