"""The kit as the target party's BFIA transport module, for the blackbox link (§4.2, §4.4).

The target's party is configured with ``system.transport`` = this relay. It POSTs
``/v1/interconn/chan/push`` (body: a serialized ``PushRequest``) and polls
``/v1/interconn/chan/pop?timeout=<s>``, as SecretFlow's yacl blackbox link does; the
relay hands every push to the kit's own party and serves the kit's messages to the
pops, answering ``TransportOutbound{payload=1, code=2, message=3}`` with HTTP 200 (the
layout yacl, Mesh and Kuscia parse). Every request is recorded with its ``x-ptp-*``
headers (the token redacted) so the checks can judge headers, topics and bodies.

One relay serves one PSI session between two parties; it is lenient about what it
accepts (a wrong topic is recorded, not refused), because judging is the checks' job.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass

import uvicorn
from google.protobuf.message import DecodeError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from isthmus.conformance.redaction import REDACTED
from isthmus.link import LinkBackend
from isthmus.link.backends import OnPush
from isthmus.wire import ptp
from isthmus.wire.proto import link_pb2

PARTIES = ("guest.0", "host.0")
#: Longest a pop is held open, whatever the client asks.
MAX_POP_S = 5.0


@dataclass(frozen=True)
class RelayRecord:
    """One south-north call the target made."""

    at_ms: float
    path: str
    query: str
    #: Every ``x-ptp-*`` header as received (the token's value redacted).
    headers: tuple[tuple[str, str], ...]
    body_bytes: int
    #: The PushRequest key for a push whose body parses as one, else None.
    key: str | None
    #: The code the relay answered.
    code: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def describe(self) -> str:
        shown = ", ".join(f"{k}: {v}" for k, v in self.headers)
        key = f" key {self.key!r}" if self.key is not None else ""
        query = f"?{self.query}" if self.query else ""
        return f"POST {self.path}{query} [{shown}] body {self.body_bytes} B{key} -> {self.code}"


class Relay:
    """The transport module for one session: target ↔ kit party."""

    def __init__(self, *, kit_rank: int, listen: str = "127.0.0.1:0") -> None:
        self.kit_rank = kit_rank
        self.listen = listen
        self.records: list[RelayRecord] = []
        self._outbox: deque[bytes] = deque()
        self._ready = asyncio.Event()
        self._on_push: OnPush | None = None
        self._pending: list[link_pb2.PushRequest] = []
        self._t0 = time.monotonic()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.address = ""
        self.app = Starlette(
            routes=[
                Route("/v1/interconn/chan/push", self._push, methods=["POST"]),
                Route("/v1/interconn/chan/pop", self._pop, methods=["POST"]),
                Route("/v1/interconn/chan/peek", self._peek, methods=["POST"]),
                Route("/v1/interconn/chan/release", self._release, methods=["POST"]),
            ]
        )

    @property
    def kit_party(self) -> str:
        return PARTIES[self.kit_rank]

    @property
    def target_party(self) -> str:
        return PARTIES[1 - self.kit_rank]

    # --- life cycle -----------------------------------------------------------------

    async def start(self) -> str:
        """Serve on ``listen``; returns the ``host:port`` actually bound."""
        host, _, port = self.listen.rpartition(":")
        config = uvicorn.Config(
            self.app, host=host or "127.0.0.1", port=int(port), log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        sockname = self._server.servers[0].sockets[0].getsockname()
        self.address = f"{sockname[0]}:{sockname[1]}"
        return self.address

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5.0)

    def backend(self) -> LinkBackend:
        """The kit party's side of the relay."""
        return _KitSide(self)

    async def attach(self, on_push: OnPush) -> None:
        """The kit's party receives from now on (what came before is handed over)."""
        self._on_push = on_push
        pending, self._pending = self._pending, []
        for message in pending:
            await on_push(message)

    def detach(self) -> None:
        self._on_push = None

    async def queue_for_target(self, payload: bytes) -> None:
        self._outbox.append(payload)
        self._ready.set()

    # --- the south-north API the target calls ---------------------------------------

    def _record(self, request: Request, body: bytes, key: str | None, code: str) -> None:
        headers = tuple(
            (name, REDACTED if name == ptp.TOKEN else value)
            for name, value in request.headers.items()
            if name.startswith("x-ptp-")
        )
        self.records.append(
            RelayRecord(
                at_ms=(time.monotonic() - self._t0) * 1000,
                path=request.url.path,
                query=request.url.query,
                headers=headers,
                body_bytes=len(body),
                key=key,
                code=code,
            )
        )

    @staticmethod
    def _reply(code: str, message: str = "", payload: bytes = b"") -> Response:
        return Response(ptp.outbound(code, message, payload), media_type="application/x-protobuf")

    async def _push(self, request: Request) -> Response:
        body = await request.body()
        try:
            message = link_pb2.PushRequest.FromString(body)
        except DecodeError:
            self._record(request, body, None, ptp.PtpCode.BAD_REQUEST)
            return self._reply(ptp.PtpCode.BAD_REQUEST, "body is not a PushRequest")
        self._record(request, body, message.key, ptp.PtpCode.OK)
        if self._on_push is None:
            self._pending.append(message)
        else:
            await self._on_push(message)
        return self._reply(ptp.PtpCode.OK, "ok")

    async def _pop(self, request: Request) -> Response:
        """Hold the pop for half the time the client allows (never more than
        ``MAX_POP_S``): answering at the client's own deadline would race its give-up
        and lose the message. A message taken for a client that has gone is put back."""
        body = await request.body()
        try:
            wait = min(float(request.query_params.get("timeout", "1")) / 2, MAX_POP_S)
        except ValueError:
            wait = 0.5
        if not self._outbox:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), max(wait, 0.0))
        if not self._outbox:
            self._record(request, body, None, ptp.PtpCode.NOT_FOUND)
            return self._reply(ptp.PtpCode.NOT_FOUND, "nothing queued")
        payload = self._outbox.popleft()
        if await request.is_disconnected():
            self._outbox.appendleft(payload)
            self._ready.set()
            return self._reply(ptp.PtpCode.TIMEOUT, "client gone")
        self._record(request, body, None, ptp.PtpCode.OK)
        return self._reply(ptp.PtpCode.OK, "ok", payload)

    async def _peek(self, request: Request) -> Response:
        body = await request.body()
        self._record(request, body, None, ptp.PtpCode.OK)
        return self._reply(ptp.PtpCode.OK, "ok")

    async def _release(self, request: Request) -> Response:
        body = await request.body()
        self._record(request, body, None, ptp.PtpCode.OK)
        return self._reply(ptp.PtpCode.OK, "released")


class _KitSide(LinkBackend):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def start(self, on_push: OnPush) -> None:
        await self.relay.attach(on_push)

    async def send(self, dst: int, request: link_pb2.PushRequest, timeout_s: float) -> None:
        await self.relay.queue_for_target(request.SerializeToString())

    async def stop(self) -> None:
        self.relay.detach()
