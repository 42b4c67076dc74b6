"""Property tests for the east-west codec (``transport.codec``): frames, wrapped
invokes and other platforms' replies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.store.transport import OutMessage
from isthmus.transport.codec import (
    decode,
    foreign_reply_code,
    from_inbound,
    invoked_message,
    to_inbound,
    unwrap_push,
)
from isthmus.wire import ptp
from isthmus.wire.errors import TransportRefused
from isthmus.wire.proto import ptp_pb2

texts = st.text(min_size=1, max_size=40)
#: What the wire layer accepts: session ids are ids, topics bounded printable ASCII.
session_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,39}", fullmatch=True).filter(
    lambda s: ".." not in s
)
topics = st.from_regex(r"[\x21-\x7e]{1,40}", fullmatch=True)
payloads = st.binary(max_size=2048)
codes = st.sampled_from(["E0000000000", "E0000000404", "E0000000700", "0", "200"])


@given(
    session_ids,
    topics,
    st.integers(1, 2**62),
    payloads,
    st.none() | st.tuples(st.integers(0, 9)),
)
def test_frames_round_trip(
    session: str, topic: str, seq: int, payload: bytes, index: tuple[int] | None
) -> None:
    message = OutMessage(1, session, "NODE_B", topic, seq, payload, len(payload))
    fragment = None if index is None else (index[0], 10)
    decoded = from_inbound(to_inbound(message, payload, fragment))
    assert (decoded.session_id, decoded.topic, decoded.seq, decoded.payload) == (
        session,
        topic,
        seq,
        payload,
    )
    assert decoded.fragment == fragment


@given(session_ids, topics, payloads)
def test_a_wrapped_push_unwraps_to_its_topic_and_payload(
    session: str, topic: str, payload: bytes
) -> None:
    push = ptp_pb2.PushInbound(topic=topic, payload=payload).SerializeToString()
    headers = {"x-ptp-version": "1.1", "x-ptp-uri": "/v1/interconn/chan/push"}
    message = invoked_message(headers, push, {"x-ptp-session-id": session})
    assert (message.session_id, message.topic, message.payload, message.seq) == (
        session,
        topic,
        payload,
        None,
    )
    assert unwrap_push(push)[:2] == (topic, payload)
    # Pass-through: the very same bytes are the payload.
    passed = invoked_message({**headers, "x-ptp-version": "1"}, push, {"x-ptp-session-id": session})
    assert passed.payload == push


# A message that is itself a code would make the two layouts indistinguishable.
messages = st.text(max_size=40).filter(lambda m: not (m in {"0", "200"} or m.startswith("E")))


@given(codes, messages, payloads | st.sampled_from([b"0", b"200", b"E0000000000"]))
def test_other_platforms_replies_are_read_in_either_layout(
    code: str, message: str, payload: bytes
) -> None:
    for layout in (ptp.LAYOUT_3, ptp.LAYOUT_V12):
        reply = ptp.outbound(code, message, payload, layout=layout)
        assert foreign_reply_code(reply) == (code, message), layout
    assert foreign_reply_code(reply) == (code, message)


def test_unreadable_replies_and_wraps_are_codec_errors() -> None:
    with pytest.raises(TransportRefused) as exc:
        foreign_reply_code(b"\xff\xff\xff")
    assert exc.value.ptp_code == "E0000000616"
    with pytest.raises(TransportRefused) as exc:
        unwrap_push(b"\xff\xff\xff")
    assert exc.value.ptp_code == "E0000000616"


@pytest.mark.parametrize(
    ("session", "topic"),
    [
        ("../../etc", "t"),
        ("a/b", "t"),
        ("s" * 300, "t"),
        ("ok", "has space"),
        ("ok", "x" * 300),
        ("ok", "nul\x00"),
    ],
)
def test_bad_routing_from_a_partner_is_a_transport_refusal(session: str, topic: str) -> None:
    message = OutMessage(1, session, "NODE_B", topic, 1, b"p", 1)
    with pytest.raises(TransportRefused) as exc:
        from_inbound(to_inbound(message, b"p", None))
    assert exc.value.ptp_code == ptp.PtpCode.BAD_REQUEST
    with pytest.raises(TransportRefused) as exc:
        invoked_message({"x-ptp-session-id": session, "x-ptp-topic": topic}, b"p")
    assert exc.value.ptp_code == ptp.PtpCode.BAD_REQUEST


# --- bytes from a partner: a message or a transport refusal, nothing else -------------

frames = st.binary(max_size=256) | st.builds(
    lambda meta, payload, cut: ptp_pb2.Inbound(metadata=meta, payload=payload).SerializeToString()[
        :cut
    ],
    st.dictionaries(
        st.sampled_from(["x-ptp-session-id", "x-ptp-topic", "x-ptp-seq", "x-ptp-fragment"]),
        st.text(max_size=12),
    ),
    st.binary(max_size=32),
    st.integers(0, 120),
)


@given(frames)
def test_any_frame_is_a_message_or_a_transport_refusal(data: bytes) -> None:
    try:
        from_inbound(data)
    except TransportRefused as exc:
        assert exc.ptp_code in {ptp.PtpCode.CODEC_ERROR, ptp.PtpCode.BAD_REQUEST}


@given(st.binary(max_size=256))
def test_bad_bytes_decode_to_the_codec_error(data: bytes) -> None:
    try:
        decode(ptp_pb2.Outbound, data, "no Outbound")
    except TransportRefused as exc:
        assert (exc.ptp_code, exc.message) == (ptp.PtpCode.CODEC_ERROR, "no Outbound")
    try:
        unwrap_push(data)
    except TransportRefused as exc:
        assert exc.ptp_code == ptp.PtpCode.CODEC_ERROR


def test_a_frame_that_is_no_inbound_is_the_codec_error() -> None:
    with pytest.raises(TransportRefused) as exc:
        from_inbound(b"\xff\xff\xff")
    assert exc.value.ptp_code == ptp.PtpCode.CODEC_ERROR
