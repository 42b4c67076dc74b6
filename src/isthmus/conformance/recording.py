"""The kit's HTTP client: every request a check sends is recorded, redacted, rate-limited.

Checks never touch httpx directly. ``signed`` signs with the kit's identity exactly as an
Isthmus node does (``peer.signing``), ``unsigned`` sends the BFIA routing headers without
a signature, ``raw`` sends whatever bytes and headers a check built (malformed input,
wrong signatures, replays). Each call becomes an ``Exchange`` whose text went through
``redaction`` first; the kit's own signatures and every registered secret are scrubbed.
A token bucket holds the target to ``rate_per_s``; in a dry run nothing is ever sent.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from isthmus.conformance.model import Exchange
from isthmus.conformance.redaction import body_excerpt, redact_headers, scrub
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.wire import headers as h


class DryRunViolation(RuntimeError):
    """A check tried to send a request during a dry run (a bug in the kit)."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    #: The body parsed as JSON, None when it is not JSON.
    json: Any | None

    @property
    def code(self) -> Any:
        """The BFIA envelope's ``code`` (None when the body is not an envelope)."""
        return self.json.get("code") if isinstance(self.json, dict) else None

    @property
    def data(self) -> Any:
        return self.json.get("data") if isinstance(self.json, dict) else None


_EPSILON = 1e-9


class RateLimiter:
    """A token bucket: at most ``rate_per_s`` requests a second, bursts of one second.
    ``clock`` and ``sleep`` are the loop's by default (tests give fakes)."""

    def __init__(
        self,
        rate_per_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate_per_s
        self.capacity = max(1.0, rate_per_s)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._at = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= 1.0 - _EPSILON:  # rounding must not make it wait forever
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                await self._sleep((1.0 - self._tokens) / self.rate)


class RecordingClient:
    """Requests to the target (``path`` is joined to ``target.address``; an absolute URL
    is used as is), each recorded as an ``Exchange`` in ``exchanges``."""

    def __init__(
        self,
        *,
        address: str,
        target_node_id: str,
        identity: NodeIdentity,
        rate_per_s: float,
        dry_run: bool = False,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.address = address if "://" in address else f"http://{address}"
        self.target_node_id = target_node_id
        self.identity = identity
        self.dry_run = dry_run
        self.limiter = RateLimiter(rate_per_s)
        self.exchanges: list[Exchange] = []
        self._secrets: set[str] = set()
        self._http = httpx.AsyncClient(
            transport=transport, timeout=timeout_s, follow_redirects=False
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def secret(self, value: str) -> str:
        """Never show ``value`` in evidence (a token, a key); returns it for chaining."""
        if value:
            self._secrets.add(value)
        return value

    def take(self) -> tuple[Exchange, ...]:
        """The exchanges recorded since the last ``take`` (the runner's per-check cut)."""
        taken, self.exchanges = tuple(self.exchanges), []
        return taken

    def url(self, path: str) -> str:
        return path if "://" in path else self.address.rstrip("/") + path

    async def signed(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        label: str | None = None,
    ) -> Reply:
        """A request signed with the kit's identity (``headers`` override the signed ones,
        ``x-ptp-*`` and permit headers among ``headers`` are signed)."""
        url, body, base = self._prepare(path, json, content, headers)
        query = urlencode(params or {})
        signed = sign_request(
            self.identity,
            method=method,
            path=urlsplit(url).path,
            query=query,
            target_node_id=self.target_node_id,
            body=body,
            ptp_headers=base,
        )
        self.secret(signed[h.AUTH_SIGN])
        return await self._send(method, url, params, {**signed, **base}, body, label)

    async def unsigned(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        label: str | None = None,
    ) -> Reply:
        """The routing headers (source and target node id) and no signature."""
        url, body, base = self._prepare(path, json, content, headers)
        routing = {h.SOURCE_NODE_ID: self.identity.node_id, h.TARGET_NODE_ID: self.target_node_id}
        return await self._send(method, url, params, {**routing, **base}, body, label)

    async def raw(
        self,
        method: str,
        url: str,
        *,
        content: bytes = b"",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        label: str | None = None,
    ) -> Reply:
        """Exactly these bytes and headers (a path is joined to the target's address)."""
        return await self._send(method, self.url(url), params, dict(headers or {}), content, label)

    def _prepare(
        self, path: str, json: Any, content: bytes | None, headers: Mapping[str, str] | None
    ) -> tuple[str, bytes, dict[str, str]]:
        base = {k.lower(): v for k, v in (headers or {}).items()}
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode("utf-8")
            base.setdefault("content-type", "application/json")
        else:
            body = content or b""
        return self.url(path), body, base

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        body: bytes,
        label: str | None,
    ) -> Reply:
        if self.dry_run:
            raise DryRunViolation(f"{method} {url}: nothing is sent in a dry run")
        await self.limiter.acquire()
        started = time.perf_counter()
        request_text = self._request_text(method, url, params, headers, body)
        try:
            response = await self._http.request(
                method,
                url,
                params=dict(params) if params else None,
                content=body or None,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            response_text = scrub(f"no answer: {type(exc).__name__}: {exc}", self._secrets)
            self.exchanges.append(Exchange(label or "", request_text, response_text, elapsed))
            raise
        elapsed = (time.perf_counter() - started) * 1000
        reply = Reply(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=response.content,
            json=_json_or_none(response.content),
        )
        self.exchanges.append(
            Exchange(label or "", request_text, self._response_text(reply), elapsed)
        )
        return reply

    def _request_text(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        body: bytes,
    ) -> str:
        parts = urlsplit(url)
        query = urlencode(params) if params else parts.query
        lines = [f"{method.upper()} {parts.path}{'?' + query if query else ''}"]
        lines += [f"{k}: {v}" for k, v in sorted(redact_headers(headers).items())]
        excerpt = body_excerpt(body, headers.get("content-type", ""), self._secrets)
        text = "\n".join(lines) + ("\n\n" + excerpt if excerpt else "")
        return scrub(text, self._secrets)

    def _response_text(self, reply: Reply) -> str:
        lines = [f"HTTP {reply.status}"]
        lines += [
            f"{k}: {v}"
            for k, v in sorted(redact_headers(reply.headers).items())
            if k in ("content-type", "x-trace-id") or k.startswith("x-ptp-")
        ]
        excerpt = body_excerpt(reply.body, reply.headers.get("content-type", ""), self._secrets)
        text = "\n".join(lines) + ("\n\n" + excerpt if excerpt else "")
        return scrub(text, self._secrets)


def _json_or_none(body: bytes) -> Any | None:
    if not body:
        return None
    try:
        return jsonlib.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
