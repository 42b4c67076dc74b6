"""What both apps share: the BFIA envelope for every error, a body-size limit, trace ids,
request logs and metrics.

One exception handler per kind turns *anything* into an envelope, so malformed JSON, an
unknown route or a bug all answer ``{code, msg, data}`` and never a stack trace.

**Every JSON body is read by one bounded reader** (``isthmus.wire.jsonbody``), before
anything parses it: ``request_fields`` for handlers that read fields themselves, and
``BoundedJsonRoute`` for handlers with a pydantic body model. A body nested deeper than
``MAX_DEPTH`` or larger than ``MAX_BYTES`` is refused in the envelope (422 / 413) and
reaches no handler, so no parser recurses on a partner's or a user's document.
"""

from __future__ import annotations

import email.message
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from isthmus.node.metrics import NodeMetrics
from isthmus.wire import headers as h
from isthmus.wire import paths
from isthmus.wire.envelope import error
from isthmus.wire.errors import (
    ErrorCode,
    IsthmusError,
    PayloadTooLarge,
    RequestError,
    ValidationFailed,
)
from isthmus.wire.jsonbody import MAX_BYTES, MAX_DEPTH, loads_bounded, nesting_depth
from isthmus.wire.logcontext import trace_id_var

log = logging.getLogger("isthmus.http")


def envelope_response(exc: IsthmusError) -> JSONResponse:
    return JSONResponse(
        error(exc.code, exc.message, exc.details or None), status_code=exc.http_status
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(IsthmusError)
    async def _isthmus(_: Request, exc: IsthmusError) -> JSONResponse:
        return envelope_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": ".".join(str(p) for p in e.get("loc", ())), "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            code, status, msg = ErrorCode.BAD_REQUEST, 400, "request body is not valid JSON"
        else:
            code, status = ErrorCode.VALIDATION_FAILED, 422
            msg = "; ".join(f"{p['loc']}: {p['msg']}" for p in problems)[:1000]
        return JSONResponse(error(code, msg, {"errors": problems[:20]}), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: ErrorCode.NOT_FOUND,
            405: ErrorCode.METHOD_NOT_ALLOWED,
            413: ErrorCode.PAYLOAD_TOO_LARGE,
        }.get(exc.status_code, ErrorCode.BAD_REQUEST)
        return JSONResponse(error(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return JSONResponse(
            error(ErrorCode.INTERNAL, f"internal error ({type(exc).__name__}); see node log"),
            status_code=500,
        )


def _too_large(max_bytes: int) -> StarletteHTTPException:
    return StarletteHTTPException(413, detail=f"request body exceeds {max_bytes} bytes")


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with a 413 envelope, whether the client declared
    the length or streams chunks, without buffering more than the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: Path prefixes with a limit of their own (the secure operator service's values).
        self.larger = larger or {}

    def _limit(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(str(scope.get("path", "")))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # An HTTPException, not a private type: FastAPI turns any other error
                    # raised while reading a body into a generic 400.
                    raise _too_large(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except StarletteHTTPException as exc:
            if exc.status_code != 413 or started:
                raise
            await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            error(ErrorCode.PAYLOAD_TOO_LARGE, str(_too_large(limit).detail))
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class TraceMiddleware:
    """Binds ``x-trace-id`` (or a new one) to the request, echoes it, logs and counts."""

    def __init__(self, app: ASGIApp, *, app_name: str, metrics: NodeMetrics) -> None:
        self.app = app
        self.app_name = app_name
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        trace_id = (h.read(headers, h.TRACE_ID) or uuid.uuid4().hex)[:128]
        token = trace_id_var.set(trace_id)
        status = 500
        started = time.perf_counter()

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-trace-id", trace_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_name(scope)
            self.metrics.requests.labels(self.app_name, route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(self.app_name, route).observe(elapsed)
            log.log(
                _request_level(scope["method"], scope["path"], status),
                "%s %s -> %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "app": self.app_name,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            trace_id_var.reset(token)


#: Requests made over and over while nothing happens (probes, scrapes, status polls,
#: transport pops): logged at DEBUG when they succeed, so INFO stays readable.
_POLLED = ("/poll", "/status", "/pop", "/peek", "/healthz", "/readyz", "/metrics")


def _request_level(method: str, path: str, status: int) -> int:
    """INFO for a request that changes something or fails; DEBUG for a read or a poll
    that succeeds, and for every probe: a 503 from ``/readyz`` while the node starts is
    what the probe is for (the node logs its own readiness, and what keeps it unready)."""
    if path in paths.PROBES:
        return logging.DEBUG
    if status >= 400:
        return logging.INFO
    if method in ("GET", "HEAD") or any(part in path for part in _POLLED):
        return logging.DEBUG
    return logging.INFO


def _route_name(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


async def request_fields(request: Request, *, query: bool = True) -> dict[str, Any]:
    """A request's fields: its JSON object body (partners send one even with GET, like
    FATE-Flow's ``status_all``), then, with ``query``, the query string for what the
    body lacks. Peers differ in where they put the same field; handlers should not."""
    raw = await request.body()
    body: Any = {}
    if raw.strip():
        body = read_json(raw)
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    if query:
        for key, value in request.query_params.items():
            body.setdefault(key, value)
    return body


def read_json(raw: bytes) -> Any:
    """A request's JSON body, parsed only within the depth and size bounds: too large is
    ``PayloadTooLarge`` (413), too deep ``ValidationFailed`` (422), not JSON at all a
    ``RequestError`` (400, as FastAPI answers malformed JSON)."""
    try:
        return loads_bounded(raw, max_depth=MAX_DEPTH, max_bytes=MAX_BYTES, what="request body")
    except PayloadTooLarge:
        raise
    except ValidationFailed:
        if nesting_depth(raw, MAX_DEPTH) > MAX_DEPTH:
            raise
        raise RequestError("request body is not valid JSON") from None


def _declares_json(request: Request) -> bool:
    """Whether FastAPI would parse this body as JSON (its own rule: no content type, or
    ``application/json`` / ``application/*+json``)."""
    value = request.headers.get("content-type")
    if not value:
        return True
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class BoundedJsonRoute(APIRoute):
    """A route whose pydantic body model is filled from JSON the bounded reader parsed.

    FastAPI parses a JSON body with ``json.loads`` (which recurses once per nesting
    level) before any dependency runs; this route parses it first, within the bounds,
    and leaves the result where FastAPI looks for it (``Request._json``, Starlette's
    cache), so the body is parsed once and never unbounded. Routes without a body model
    read their fields through ``request_fields``, which uses the same reader.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def bounded(request: Request) -> Response:
            raw = await request.body()
            if raw and _declares_json(request):
                request._json = read_json(raw)  # refusals reach the envelope handlers
            return await handler(request)

        return bounded
