"""Length-delimited framing of the east-west transport stream."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.wire.framing import decode_varint, encode_varint, frame, unframe


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded, 0) == (value, len(encoded))


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_frames_round_trip(messages: list[bytes]) -> None:
    assert list(unframe(frame(messages), max_message_bytes=300)) == messages


@given(st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=5), st.data())
def test_truncated_streams_are_refused(messages: list[bytes], data: st.DataObject) -> None:
    framed = frame(messages)
    cut = data.draw(st.integers(min_value=1, max_value=len(framed) - 1))
    with pytest.raises(ValueError):
        # A cut inside the last frame is always detected; a cut on a frame boundary
        # yields fewer messages, which the caller sees by count.
        decoded = list(unframe(framed[:cut], max_message_bytes=100))
        if len(decoded) < len(messages):
            raise ValueError("short")


def test_oversized_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        list(unframe(frame([b"x" * 11]), max_message_bytes=10))
