"""A node whose east-west API answers success as ``{"status": "ok", "msg", "data"}``,
without ``code`` (defect: the wrong envelope). Only the interconnection app is
wrapped, so the admin API (and the harness's readiness probe) still speak BFIA."""

import json
from typing import Any

import isthmus.node.interconn_app as interconn_app

_create = interconn_app.create_interconn_app


class StatusEnvelope:
    """Rewrites every ``{"code": 0, …}`` reply into ``{"status": "ok", …}``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def rewrite(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            try:
                document = json.loads(body)
            except ValueError:
                document = None
            if isinstance(document, dict) and document.get("code") == 0:
                wrong = {"status": "ok", "msg": document.get("msg"), "data": document.get("data")}
                body = json.dumps(wrong).encode()
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


def create_interconn_app(ctx: Any) -> Any:
    app = _create(ctx)
    app.add_middleware(StatusEnvelope)
    return app


interconn_app.create_interconn_app = create_interconn_app

from isthmus.cli.main import main  # noqa: E402 - the patch must come first

main()
