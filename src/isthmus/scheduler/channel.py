"""Calls between a job's scheduler and its parties.

Partners are called through the signed peer client at their contract's address, with
the bodies FATE-Flow sends (the captured dialect) and, besides the spec's headers,
``x-node-id``: FATE-Flow's scheduler identifies a caller by it and drops the headers it
spells with underscores itself. This node, when it is a party of a job it schedules, is
called directly: the same calls (``calls``), no network, no contract with itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from isthmus.peer.client import PeerClient
from isthmus.scheduler.calls import answer
from isthmus.scheduler.participant import Participant


class PartyChannel:
    def __init__(
        self, me: str, peers: PeerClient, address_of: Callable[[str], str], local: Participant
    ) -> None:
        self.me = me
        self.peers = peers
        self.address_of = address_of
        self.local = local

    async def call(
        self,
        node_id: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        method: str = "POST",
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        if node_id == self.me:
            return await self._local(path, body or {}, headers or {})
        return await self.peers.call(
            method,
            self.address_of(node_id),
            path,
            target_node_id=node_id,
            body=body,
            params=params,
            extra_headers={"x-node-id": self.me, **(headers or {})},
        )

    async def _local(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """The same call answered by this node's own participant (``calls.answer``, as
        the east-west router does for a partner)."""
        answered = await answer(self.local, self.me, path, body, headers)
        return {} if answered is None else answered
