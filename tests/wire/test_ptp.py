"""PTP headers, codes and reply codecs."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.wire import ptp


@given(
    st.sampled_from(list(ptp.PtpCode)),
    st.text(max_size=30),
    st.binary(max_size=100),
    st.sampled_from(["3", "v1.2"]),
)
def test_outbound_round_trip_in_both_layouts(
    code: str, message: str, payload: bytes, layout: str
) -> None:
    data = ptp.outbound(code, message, payload, layout=layout)
    assert ptp.parse_outbound(data, layout=layout) == (code, message, payload)


def test_codes_parse_and_unknown_strings_are_unknown() -> None:
    assert ptp.PtpCode.parse("E0000000700") is ptp.PtpCode.BUFFER_FULL
    assert ptp.PtpCode.parse("E9999") is ptp.PtpCode.UNKNOWN
    assert len({c.value for c in ptp.PtpCode}) == len(ptp.PtpCode)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("x-ptp-source-node-id", ptp.SOURCE_NODE_ID),
        ("x-ptp-from-node-id", ptp.SOURCE_NODE_ID),
        ("x-ptp-from-inst-id", ptp.SOURCE_INST_ID),
        ("x-ptp-tecn-provider-code", ptp.TECH_PROVIDER_CODE),
    ],
)
def test_every_peer_spelling_is_read(spelling: str, name: str) -> None:
    assert ptp.read({spelling: "v"}, name) == "v"


@given(st.binary(max_size=50))
def test_garbage_is_refused_or_parsed_never_crashes(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        ptp.parse_outbound(data)
