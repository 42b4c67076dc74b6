"""Link key grammar and chunking: properties and the real peer's captured traffic."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.link import keys
from isthmus.link.chunks import Reassembler, split
from isthmus.wire.errors import LinkProtocolError
from isthmus.wire.proto import link_pb2
from tests.support.shared import wire_capture

channels = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}(-[0-9]{1,3}){0,2}", fullmatch=True)


@given(channels, st.integers(1, 10**9), st.integers(0, 99), st.integers(0, 99))
def test_p2p_keys_round_trip(channel: str, counter: int, src: int, dst: int) -> None:
    key = keys.p2p_key(channel, counter, src, dst)
    assert keys.parse_p2p(key) == keys.P2PKey(channel, counter, src, dst)
    assert keys.split_seq(keys.with_seq(key, 42)) == (key, 42)
    assert keys.split_seq(key) == (key, None)


@given(channels, st.integers(1, 10**6), st.sampled_from(keys.COLLECTIVES))
def test_collective_keys_round_trip(channel: str, counter: int, op: str) -> None:
    assert keys.parse_collective(keys.collective_key(channel, counter, op)) == (
        channel,
        counter,
        op,
    )


def test_bad_keys_are_refused() -> None:
    with pytest.raises(LinkProtocolError):
        keys.p2p_key("root", 0, 0, 1)  # counters start at 1
    with pytest.raises(LinkProtocolError):
        keys.check_channel("root:evil")
    with pytest.raises(LinkProtocolError):
        keys.split_seq("root:P2P-1:0->1\x01\x02x")
    assert keys.split_seq(keys.FIN_KEY) == (keys.FIN_KEY, None)


@settings(max_examples=40)
@given(st.binary(min_size=0, max_size=40_000), st.integers(4097, 9000), st.randoms())
def test_split_shuffle_reassemble(value: bytes, chunk: int, rnd: random.Random) -> None:
    pieces = split(3, "root:P2P-1:3->0", value, chunk)
    rnd.shuffle(pieces)
    if len(pieces) > 1:
        pieces.insert(1, pieces[0])  # a repeated chunk before completion is harmless
    reassembler = Reassembler()
    results = [r for p in pieces if (r := reassembler.add(p)) is not None]
    assert results == [value]


@given(st.binary(min_size=5000, max_size=20_000), st.data())
def test_corrupted_chunk_sets_are_refused(value: bytes, data: st.DataObject) -> None:
    pieces = split(0, "k", value, 4097)
    victim = data.draw(st.integers(0, len(pieces) - 2))
    bad = link_pb2.PushRequest()
    bad.CopyFrom(pieces[victim])
    corruption = data.draw(st.sampled_from(["length", "overrun", "different"]))
    if corruption == "length":
        bad.chunk_info.message_length += 1
    elif corruption == "overrun":
        bad.chunk_info.chunk_offset = bad.chunk_info.message_length
    else:
        bad.value = bytes([bad.value[0] ^ 1]) + bad.value[1:]
    reassembler = Reassembler()
    with pytest.raises(LinkProtocolError):  # the conflict arrives before completion
        for piece in [*pieces[:-1], bad, pieces[-1]]:
            reassembler.add(piece)


def test_chunk_size_must_exceed_4096() -> None:
    with pytest.raises(ValueError, match="4096"):
        split(0, "k", b"x" * 10_000, 4096)


def _entries(name: str) -> list[dict[str, object]]:
    """The capture's JSON lines; the excerpt's last line is cut mid-way, so lines that do
    not parse are dropped (and counted, so a broken file still fails)."""
    entries = []
    lines = wire_capture(name).read_text().splitlines()
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    assert len(entries) >= len(lines) - 1
    return entries


@pytest.mark.parametrize(
    "name",
    [
        "ecdh_psi_1k_rank0_to_rank1.jsonl",
        "ecdh_psi_1k_rank1_to_rank0.jsonl",
        "ecdh_psi_chunked_excerpt.jsonl",
    ],
)
def test_every_captured_secretflow_key_parses(name: str) -> None:
    kinds = set()
    for entry in _entries(name):
        key = str(entry["key"])
        base, seq = keys.split_seq(key)
        if base.startswith(keys.CONNECT_PREFIX):
            kinds.add("connect")
            assert seq == 0
        elif base in (keys.FIN_KEY, keys.ACK_KEY):
            kinds.add(base)
        else:
            parsed = keys.parse_p2p(base)
            assert parsed is not None, key
            assert parsed.counter >= 1 and parsed.channel in ("root", "root-0")
            kinds.add("p2p")
    assert {"connect", "p2p"} <= kinds


def test_captured_chunks_describe_consistent_messages() -> None:
    messages: dict[str, set[int]] = {}
    for entry in _entries("ecdh_psi_chunked_excerpt.jsonl"):
        if entry["trans_type"] == "CHUNKED":
            length, offset = entry["chunk"]  # type: ignore[misc]
            assert offset + entry["value_len"] <= length  # type: ignore[operator]
            messages.setdefault(str(entry["key"]), set()).add(length)
    assert messages and all(len(lengths) == 1 for lengths in messages.values())
