"""Length-delimited protobuf streams: a varint length, then that many bytes, repeated.

This is how Isthmus maps the gRPC ``transport(stream Inbound)`` call of BFIA's east-west
API onto one HTTP body (``POST /v1/interconn/chan/transport``): the same framing as
protobuf's ``writeDelimitedTo``, so any protobuf runtime can read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

_MAX_VARINT_BYTES = 10


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes | memoryview, offset: int) -> tuple[int, int]:
    """(value, offset after it); ValueError on a truncated or overlong varint."""
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        if offset + i >= len(data):
            raise ValueError("truncated varint")
        byte = data[offset + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, offset + i + 1
    raise ValueError("varint longer than 10 bytes")


def frame(messages: Iterable[bytes]) -> bytes:
    return b"".join(encode_varint(len(m)) + m for m in messages)


def unframe(data: bytes, *, max_message_bytes: int) -> Iterator[bytes]:
    """Each message of a framed stream; ValueError on truncation or an oversized frame."""
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        length, offset = decode_varint(view, offset)
        if length > max_message_bytes:
            raise ValueError(f"frame of {length} bytes exceeds {max_message_bytes}")
        end = offset + length
        if end > len(view):
            raise ValueError("truncated frame")
        yield bytes(view[offset:end])
        offset = end
