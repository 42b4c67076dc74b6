"""Several nodes in one event loop, talking over an in-memory transport.

The nodes are built exactly as ``isthmus node start`` builds them (same context, same
apps); only the sockets are replaced, by routing each partner address to that node's
ASGI app.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from isthmus.console import mount as console_mount
from isthmus.node.admin_app import create_admin_app
from isthmus.node.api.transport.south_north import create_transport_app
from isthmus.node.config import load_config
from isthmus.node.context import NodeContext, build_context
from isthmus.node.home import init_home
from isthmus.node.interconn_app import create_interconn_app
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.wire import paths
from isthmus.wire.envelope import Envelope


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request to the ASGI app registered for its host."""

    def __init__(self) -> None:
        self.routes: dict[str, httpx.ASGITransport] = {}

    def register(self, host: str, app: Any) -> None:
        self.routes[host] = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self.routes.get(request.url.host)
        if target is None:
            raise httpx.ConnectError(f"no in-process node at {request.url.host}", request=request)
        return await target.handle_async_request(request)


class InProcessNode:
    """One node of an :class:`InProcessCluster`: its context, its three ASGI apps, and a
    client for its south-north transport API as a component beside it sees it."""

    def __init__(self, ctx: NodeContext, interconn: Any, admin: Any, transport: Any) -> None:
        self.ctx = ctx
        self.interconn_app = interconn
        self.admin_app = admin
        #: The south-north transport API, as a component beside this node sees it.
        self.transport = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=transport), base_url="http://transport.local"
        )
        self.interconn = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=interconn), base_url=ctx.config.public_address
        )
        self.admin = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=admin),
            base_url="http://admin.local",
            headers={"authorization": f"Bearer {ctx.admin_token}"},
        )

    @property
    def node_id(self) -> str:
        return self.ctx.node_id

    @property
    def address(self) -> str:
        return self.ctx.config.public_address

    async def admin_call(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API; returns ``data`` or raises AssertionError with the envelope."""
        response = await self.admin.request(method, paths.ADMIN + path, json=body)
        envelope = Envelope.model_validate(response.json())
        if not envelope.ok:
            raise AssertionError(f"{method} {path}: {envelope.code} {envelope.msg}")
        return envelope.data

    async def signed_post(
        self,
        target: InProcessNode,
        path: str,
        body: Any,
        *,
        identity: NodeIdentity | None = None,
    ) -> httpx.Response:
        """POST JSON ``body`` to ``target``'s interconn app, signed as this node (or as
        ``identity``, to impersonate it with another key)."""
        return await self.signed_post_bytes(
            target,
            path,
            json.dumps(body).encode(),
            identity=identity,
            headers={"content-type": "application/json"},
        )

    async def signed_post_bytes(
        self,
        target: InProcessNode,
        path: str,
        content: bytes,
        *,
        ptp_headers: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        identity: NodeIdentity | None = None,
    ) -> httpx.Response:
        """POST raw bytes with ``x-ptp-*`` headers (signed too), as a partner node would."""
        signed = sign_request(
            identity or self.ctx.identity,
            method="POST",
            path=path,
            query="",
            target_node_id=target.node_id,
            body=content,
            ptp_headers=ptp_headers,
        )
        all_headers = {**(headers or {}), **(ptp_headers or {}), **signed}
        return await target.interconn.post(path, content=content, headers=all_headers)

    async def aclose(self) -> None:
        await self.transport.aclose()
        await self.interconn.aclose()
        await self.admin.aclose()
        await self.ctx.aclose()


class InProcessCluster:
    """``async with InProcessCluster() as cluster: a, b = await cluster.start(2)``."""

    def __init__(self, base_dir: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if base_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="isthmus-inproc-")
            base_dir = Path(self._tmp.name)
        self.base_dir = base_dir
        self.transport = RoutingTransport()
        self.nodes: list[InProcessNode] = []

    async def add_node(
        self, node_id: str | None = None, *, auth_type: str = "ED25519", **init_options: Any
    ) -> InProcessNode:
        node_id = node_id or f"NODE_{chr(ord('A') + len(self.nodes))}"
        host = f"{node_id.lower().replace('_', '-')}.test"
        home = init_home(
            self.base_dir / node_id,
            node_id=node_id,
            inst_id=f"INST_{node_id}",
            auth_type=auth_type,
            public_address=f"http://{host}",
            **init_options,
        )
        ctx = build_context(load_config(home), transport=self.transport)
        ctx.store.migrate()
        ctx.components.register_builtins()
        ctx.ready.set()
        interconn, admin = create_interconn_app(ctx), create_admin_app(ctx)
        console_mount(admin, ctx)  # as ``isthmus node start`` does
        self.transport.register(host, interconn)
        node = InProcessNode(ctx, interconn, admin, create_transport_app(ctx))
        self.nodes.append(node)
        return node

    async def start(
        self, count: int, *, auth_types: list[str] | None = None
    ) -> list[InProcessNode]:
        types = auth_types or ["ED25519"] * count
        return [await self.add_node(auth_type=types[i % len(types)]) for i in range(count)]

    async def connect(self, applicant: InProcessNode, approver: InProcessNode) -> str:
        """Apply, approve, and deliver the confirm synchronously (no background loop)."""
        view = await applicant.admin_call("POST", "/contracts/apply", {"address": approver.address})
        contract_id = str(view["contract_id"])
        await approver.admin_call("POST", f"/contracts/{contract_id}/approve", {})
        await approver.ctx.outbox.deliver_due()
        return contract_id

    async def close(self) -> None:
        for node in self.nodes:
            await node.aclose()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def __aenter__(self) -> InProcessCluster:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
