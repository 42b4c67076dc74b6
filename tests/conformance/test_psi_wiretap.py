"""The kit's link tap: it records every message both ways without changing one, and
reads yacl's sequence suffix off the keys it records."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from isthmus.conformance.psi.wiretap import LinkRecord, Wiretap
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.link.keys import p2p_key, with_seq

channels = st.sampled_from(["root", "root-0", "root-1", "psi"])


def record(raw_key: str) -> LinkRecord:
    return LinkRecord("in", 0.0, 1, raw_key, False, 0, 0, b"")


@given(channels, st.integers(1, 10**6), st.integers(0, 1), st.integers(1, 10**9))
def test_key_and_sequence_are_read_off_a_numbered_key(
    channel: str, counter: int, src: int, seq: int
) -> None:
    key = p2p_key(channel, counter, src, 1 - src)
    numbered = record(with_seq(key, seq))
    assert numbered.key == key
    assert numbered.seq == seq
    assert numbered.has_seq_suffix
    plain = record(key)
    assert plain.key == key and plain.seq is None and not plain.has_seq_suffix


@given(st.lists(st.binary(max_size=20_000), min_size=1, max_size=5))
def test_the_tap_passes_every_message_unchanged_and_records_both_ways(
    values: list[bytes],
) -> None:
    async def exchange() -> tuple[list[bytes], Wiretap]:
        network = MemoryNetwork()
        tap = Wiretap(network.backend(0))
        sender = LinkContext(0, 2, tap, recv_timeout_s=5, max_chunk_bytes=8192)
        receiver = LinkContext(1, 2, network.backend(1), recv_timeout_s=5)
        await asyncio.gather(sender.start(), receiver.start())
        for value in values:
            await sender.send(1, value)
        got = [await receiver.recv(0) for _ in values]
        await receiver.send(0, b"back")
        assert await sender.recv(1) == b"back"
        return got, tap

    got, tap = asyncio.run(exchange())
    assert got == values
    out = [r for r in tap.records if r.direction == "out" and r.key.startswith("root:")]
    assert b"".join(r.value for r in out) == b"".join(values)
    assert [r.key for r in tap.records if r.direction == "in"] == ["connect_1", "root:P2P-1:1->0"]
