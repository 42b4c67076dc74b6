"""A ``LinkBackend`` that records every white-box link message both ways (digest §4.5).

The kit's party runs over the same ``LinkContext`` a component uses, but through this
wrapper, so the checks judge exactly what crossed the link: each ``PushRequest`` with
its direction, key, yacl sequence suffix, MONO/CHUNKED framing and value. Recording
never changes a message and never drops one; it is a tap, not a filter.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from isthmus.link import LinkBackend
from isthmus.link.backends import OnPush
from isthmus.link.keys import SEQ_MARK, split_seq
from isthmus.wire.errors import LinkProtocolError
from isthmus.wire.proto import link_pb2


@dataclass(frozen=True)
class LinkRecord:
    """One ``PushRequest`` as it crossed the link."""

    #: ``in``: the target sent it to the kit; ``out``: the kit sent it.
    direction: str
    at_ms: float
    sender_rank: int
    #: The key as sent, suffix included.
    raw_key: str
    chunked: bool
    message_length: int
    chunk_offset: int
    value: bytes

    @property
    def key(self) -> str:
        """The key without yacl's ``\\x01\\x02<seq>`` suffix."""
        try:
            return split_seq(self.raw_key)[0]
        except LinkProtocolError:
            return self.raw_key

    @property
    def seq(self) -> int | None:
        try:
            return split_seq(self.raw_key)[1]
        except LinkProtocolError:
            return None

    @property
    def has_seq_suffix(self) -> bool:
        return SEQ_MARK in self.raw_key and self.key != self.raw_key

    def describe(self) -> str:
        framing = (
            f"CHUNKED {self.chunk_offset}+{len(self.value)}/{self.message_length}"
            if self.chunked
            else f"MONO {len(self.value)} B"
        )
        return f"{self.direction} rank {self.sender_rank} {self.raw_key!r} {framing}"


class Wiretap(LinkBackend):
    """Records what ``inner`` sends and receives, in order, then passes it on."""

    def __init__(self, inner: LinkBackend) -> None:
        self.inner = inner
        self.records: list[LinkRecord] = []
        self._t0 = time.monotonic()

    def _record(self, direction: str, request: link_pb2.PushRequest) -> None:
        self.records.append(
            LinkRecord(
                direction=direction,
                at_ms=(time.monotonic() - self._t0) * 1000,
                sender_rank=int(request.sender_rank),
                raw_key=request.key,
                chunked=request.trans_type == link_pb2.CHUNKED,
                message_length=int(request.chunk_info.message_length),
                chunk_offset=int(request.chunk_info.chunk_offset),
                value=bytes(request.value),
            )
        )

    async def start(self, on_push: OnPush) -> None:
        async def tapped(request: link_pb2.PushRequest) -> None:
            self._record("in", request)
            await on_push(request)

        await self.inner.start(tapped)

    async def send(self, dst: int, request: link_pb2.PushRequest, timeout_s: float) -> None:
        self._record("out", request)
        await self.inner.send(dst, request, timeout_s)

    async def stop(self) -> None:
        await self.inner.stop()
