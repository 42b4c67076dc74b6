"""Splitting large values into CHUNKED pushes and putting them back together."""

from __future__ import annotations

from dataclasses import dataclass, field

from isthmus.wire.errors import LinkProtocolError
from isthmus.wire.proto import link_pb2

#: The real link refuses chunk sizes at or below this (peers.md §1).
MIN_CHUNK_BYTES = 4097


def split(
    sender_rank: int, key: str, value: bytes, max_chunk_bytes: int
) -> list[link_pb2.PushRequest]:
    """One MONO request when the value fits, else CHUNKED pieces with offsets."""
    if max_chunk_bytes < MIN_CHUNK_BYTES:
        raise ValueError(f"chunk size must exceed 4096 bytes, not {max_chunk_bytes}")
    if len(value) <= max_chunk_bytes:
        return [
            link_pb2.PushRequest(
                sender_rank=sender_rank, key=key, value=value, trans_type=link_pb2.MONO
            )
        ]
    return [
        link_pb2.PushRequest(
            sender_rank=sender_rank,
            key=key,
            value=value[offset : offset + max_chunk_bytes],
            trans_type=link_pb2.CHUNKED,
            chunk_info=link_pb2.ChunkInfo(message_length=len(value), chunk_offset=offset),
        )
        for offset in range(0, len(value), max_chunk_bytes)
    ]


@dataclass
class _Partial:
    length: int
    pieces: dict[int, bytes] = field(default_factory=dict)
    received: int = 0


class Reassembler:
    """Collects CHUNKED pieces per (sender, key), in any order, and returns each whole
    value exactly once. Anything inconsistent is refused, never guessed at."""

    def __init__(self, max_message_bytes: int = 1 << 31) -> None:
        self.max_message_bytes = max_message_bytes
        self._partial: dict[tuple[int, str], _Partial] = {}

    def add(self, request: link_pb2.PushRequest) -> bytes | None:
        if request.trans_type == link_pb2.MONO:
            return bytes(request.value)
        if request.trans_type != link_pb2.CHUNKED:
            raise LinkProtocolError(f"unknown trans_type {request.trans_type}")
        length = request.chunk_info.message_length
        offset = request.chunk_info.chunk_offset
        piece = bytes(request.value)
        if length > self.max_message_bytes:
            raise LinkProtocolError(f"{request.key!r}: message of {length} bytes is too large")
        if not piece or offset + len(piece) > length:
            raise LinkProtocolError(f"{request.key!r}: chunk at {offset} overruns {length}")
        slot = (request.sender_rank, request.key)
        partial = self._partial.setdefault(slot, _Partial(length))
        if partial.length != length:
            raise LinkProtocolError(f"{request.key!r}: chunks disagree on the message length")
        if offset in partial.pieces:
            if partial.pieces[offset] != piece:
                raise LinkProtocolError(f"{request.key!r}: two different chunks at {offset}")
            return None  # a repeat
        partial.pieces[offset] = piece
        partial.received += len(piece)
        if partial.received < length:
            return None
        del self._partial[slot]
        value = bytearray()
        for start in sorted(partial.pieces):
            if start != len(value):
                raise LinkProtocolError(f"{request.key!r}: chunks overlap or leave a gap")
            value += partial.pieces[start]
        if len(value) != length:
            raise LinkProtocolError(f"{request.key!r}: chunks do not add up to {length}")
        return bytes(value)
