"""The task's link to its partners, and the abort that travels on it.

A task's parties talk through a ``LinkContext`` over a backend the node provides (the
blackbox backend on this node's own south-north transport, one transport session per
task). ``AbortableBackend`` wraps that backend so one more message can travel on it: an
**abort** (key ``ABORT_KEY``), which a party whose task fails or is killed sends to every
partner before it lets go of its session. The receiving side never hands it to the link:
it calls ``on_abort``, and the service cancels the task there too, so a kill on one node
frees the task on every node at once instead of leaving partners to wait for a message
that will never come (their receive would fail anyway, after the peer wait: the bound
when even the abort is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from isthmus.link.backends import LinkBackend, OnPush
from isthmus.wire.errors import LinkError
from isthmus.wire.proto import link_pb2

log = logging.getLogger(__name__)

#: Not a key the link itself ever uses (those are ``connect_*``, ``FIN``, ``ACK``,
#: ``<channel>:P2P:...`` and collectives).
ABORT_KEY = "isthmus-secop-abort"
#: How long an abort may take to be accepted by this node's transport.
ABORT_SEND_S = 3.0

OnAbort = Callable[[int, dict[str, Any]], Awaitable[None]]


class AbortableBackend(LinkBackend):
    def __init__(
        self,
        inner: LinkBackend,
        rank: int,
        world_size: int,
        on_abort: OnAbort,
        *,
        abort_send_s: float = ABORT_SEND_S,
    ) -> None:
        self.inner = inner
        self.abort_send_s = abort_send_s
        self.rank = rank
        self.world_size = world_size
        self.on_abort = on_abort

    async def start(self, on_push: OnPush) -> None:
        async def filtered(request: link_pb2.PushRequest) -> None:
            if request.key == ABORT_KEY:
                try:
                    reason = json.loads(request.value or b"{}")
                except ValueError:
                    reason = {}
                await self.on_abort(int(request.sender_rank), reason)
                return
            await on_push(request)

        await self.inner.start(filtered)

    async def send(self, dst: int, request: link_pb2.PushRequest, timeout_s: float) -> None:
        await self.inner.send(dst, request, timeout_s)

    async def stop(self) -> None:
        await self.inner.stop()

    async def abort(self, reason: dict[str, Any]) -> None:
        """Tell every partner, each within ``abort_send_s``; a partner that cannot be
        told is logged and left to its own peer wait."""
        body = json.dumps(reason).encode()
        request = link_pb2.PushRequest(
            sender_rank=self.rank, key=ABORT_KEY, value=body, trans_type=link_pb2.MONO
        )

        async def tell(peer: int) -> None:
            with contextlib.suppress(LinkError, TimeoutError, OSError):
                wait = self.abort_send_s
                await asyncio.wait_for(self.inner.send(peer, request, wait), wait)
                return
            log.warning("could not tell rank %s that the task ended", peer)

        peers = [r for r in range(self.world_size) if r != self.rank]
        await asyncio.gather(*(tell(p) for p in peers))
