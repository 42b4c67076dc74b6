"""The kit's own HTTP listener: where the target's calls back to the kit arrive.

A target answers some requests later, by calling its partner: the contract confirm, audit
confirms, job callbacks, east-west ``transport`` pushes, ``invoke``. The kit is that
partner, so it listens (uvicorn on 127.0.0.1 by default), records every request into a
queue per path and answers the BFIA success envelope (or what a check asked for with
``answer``). When the target's signature scheme is known it verifies the signature
against ``target.public_key_pem`` and records the verdict on ``Received``: checks judge
it, the listener never refuses, so a bad signature is evidence rather than a lost call.

Security: it binds loopback unless told otherwise (``--listen``), accepts bodies up to
``MAX_BODY``, keeps at most ``MAX_QUEUED`` unclaimed requests per path and ``MAX_PATHS``
paths (more is answered 429 and not kept), acts on nothing it receives and lives only
as long as the run (docs/security.md, rule 17).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import uvicorn

from isthmus.conformance.keys import load_any_public_key
from isthmus.conformance.model import Target
from isthmus.crypto import PublicKey
from isthmus.peer.signing import canonical_string, verify_signature
from isthmus.wire import headers as h

MAX_BODY = 8 * 1024 * 1024
MAX_QUEUED = 256
MAX_PATHS = 64
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ListenerTimeout(Exception):
    """Nothing arrived on the expected path in time."""


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    #: The body parsed as JSON, None when it is not JSON.
    json: Any | None
    #: True/False: the target's signature verified or not; None: not checked (no key,
    #: an unknown scheme, or no signature header).
    signature_valid: bool | None


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


SUCCESS = Answer(200, b'{"code":0,"msg":"success","data":null}')


class KitListener:
    """``await start()``, ``address``, ``await expect(prefix, timeout_s)``, ``await stop()``."""

    def __init__(self, target: Target, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = target
        self.host = host
        self.port = port
        self._received_by_path: dict[str, asyncio.Queue[Received]] = {}
        self._answers: dict[str, Answer] = {}
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._key: PublicKey | None = load_any_public_key(target.public_key_pem)

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app, log_level="warning", access_log=False, lifespan="off", interface="asgi3"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = None

    def answer(self, path_prefix: str, status: int, body: bytes, content_type: str) -> None:
        """Answer requests under ``path_prefix`` with this instead of the success envelope."""
        self._answers[path_prefix] = Answer(status, body, content_type)

    async def expect(self, path_prefix: str, timeout_s: float) -> Received:
        """The next request whose path starts with ``path_prefix`` (oldest first)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            for path, queue in self._received_by_path.items():
                if path.startswith(path_prefix) and not queue.empty():
                    return queue.get_nowait()
            if asyncio.get_running_loop().time() >= deadline:
                raise ListenerTimeout(f"nothing arrived on {path_prefix} in {timeout_s:g} s")
            await asyncio.sleep(0.02)

    def drain(self) -> None:
        """Forget everything unclaimed (between checks)."""
        self._received_by_path.clear()

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _reply(send, Answer(413, b'{"code":413,"msg":"too large","data":null}'))
                return
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        received = Received(
            method=scope["method"],
            path=path,
            query=query,
            headers=headers,
            body=bytes(body),
            json=_json_or_none(bytes(body)),
            signature_valid=self._verify(scope["method"], path, query, headers, bytes(body)),
        )
        if path not in self._received_by_path and len(self._received_by_path) >= MAX_PATHS:
            await _reply(send, Answer(429, b'{"code":429,"msg":"too many paths","data":null}'))
            return
        queue = self._received_by_path.setdefault(path, asyncio.Queue(MAX_QUEUED))
        if not queue.full():
            queue.put_nowait(received)
        answer = next(
            (a for prefix, a in self._answers.items() if path.startswith(prefix)), SUCCESS
        )
        await _reply(send, answer)

    def _verify(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> bool | None:
        signature = h.read(headers, h.AUTH_SIGN)
        if self._key is None or signature is None:
            return None
        if self.target.signature_scheme != "isthmus-sig-1":
            return None
        message = canonical_string(
            method=method,
            path=path,
            query=query,
            timestamp=h.read(headers, h.TIMESTAMP) or "",
            nonce=h.read(headers, h.NONCE) or "",
            source_node_id=h.read(headers, h.SOURCE_NODE_ID) or "",
            target_node_id=h.read(headers, h.TARGET_NODE_ID) or "",
            body=body,
            ptp_headers=headers,
        )
        return verify_signature(self._key, signature, message)


async def _reply(send: Send, answer: Answer) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [(b"content-type", answer.content_type.encode("latin-1"))],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})


def _json_or_none(body: bytes) -> Any | None:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
