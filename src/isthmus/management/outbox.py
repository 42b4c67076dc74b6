"""Delivers the outbox: messages we committed to send to partners.

At-least-once: a message is marked delivered only after the partner's OK, so a crash
between sending and marking resends it, and every receiver treats a repeat as a no-op
(a confirm for a contract already in that state, a terminate of a terminated contract).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from starlette.concurrency import run_in_threadpool

from isthmus.peer.client import PeerClient
from isthmus.store import Store
from isthmus.store.schema import OutboxRow
from isthmus.wire import paths
from isthmus.wire.errors import ErrorCode, PeerAddressRefused, PeerError, PeerRefused

log = logging.getLogger(__name__)

#: Refusals that no retry can fix: the partner understood us and said no.
FINAL_CODES = frozenset(
    {
        ErrorCode.BAD_REQUEST,
        ErrorCode.VALIDATION_FAILED,
        ErrorCode.STATE_CONFLICT,
        ErrorCode.WRONG_TARGET,
        ErrorCode.INVALID_KEY,
        ErrorCode.UNKNOWN_SUITE,
        ErrorCode.CONTRACT_TERMINATED,
        ErrorCode.TEE_REFUSED,  # a confirm whose report was refused: the partner ended it
    }
)


class OutboxDispatcher:
    def __init__(
        self,
        store: Store,
        peers: PeerClient,
        *,
        wakeup: asyncio.Event | None = None,
        idle_poll_s: float = 1.0,
    ) -> None:
        self.store = store
        self.peers = peers
        self.wakeup = wakeup or asyncio.Event()
        self.idle_poll_s = idle_poll_s

    async def run_forever(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:
                log.exception("outbox delivery round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=self.idle_poll_s)
            self.wakeup.clear()

    async def deliver_due(self) -> int:
        """One round: try every due message once; returns how many were delivered."""

        def _due() -> list[OutboxRow]:
            with self.store.session() as s:
                return list(self.store.outbox.due(s))

        delivered = 0
        for message in await run_in_threadpool(_due):
            error: PeerError | None = None
            try:
                await self.peers.call(
                    message.method,
                    message.address,
                    message.path,
                    target_node_id=message.peer_node_id,
                    body=json.loads(message.body),
                    signed=bool(message.signed),
                    # FATE-Flow's scheduler identifies a caller by x-node-id only
                    extra_headers=(
                        {"x-node-id": self.peers.identity.node_id}
                        if message.path.startswith(paths.SCHEDULE)
                        else None
                    ),
                )
            except PeerError as exc:
                error = exc
            await run_in_threadpool(self._record, message, error)
            delivered += error is None
        return delivered

    def _record(self, message: OutboxRow, error: PeerError | None) -> None:
        with self.store.session() as s:
            if error is None:
                self.store.outbox.mark_delivered(s, message.id)
                return
            row = self.store.outbox.mark_failed(s, message.id, error.message)
            final = isinstance(error, PeerAddressRefused) or (
                isinstance(error, PeerRefused) and error.details.get("peer_code") in FINAL_CODES
            )
            if row is not None and final:
                row.dead = 1
            if row is not None and row.dead:
                self.store.audit.append(
                    s,
                    actor="system:outbox",
                    action="outbox.dead",
                    subject=message.path,
                    outcome="failed",
                    details={
                        "peer_node_id": message.peer_node_id,
                        "attempts": row.attempts,
                        "error": error.message[:300],
                    },
                )
        log.warning("delivery to %s failed: %s", message.peer_node_id, error.message)
