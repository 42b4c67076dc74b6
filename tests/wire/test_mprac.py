"""The ``x-mprac-token-set`` grammar: what we write we read back, and malformed sets are
refused naming the offending tuple."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.wire.mprac import (
    BadTokenSet,
    ResourceType,
    TokenRef,
    format_token_set,
    parse_token_set,
)

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-#",
              min_size=1, max_size=40)  # fmt: skip
nodes = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,30}", fullmatch=True)
tokens = st.from_regex(r"[A-Za-z0-9_\-]{16,64}", fullmatch=True)
refs = st.builds(TokenRef, nodes, st.sampled_from(ResourceType), ids, st.integers(1, 9), tokens)


@given(st.lists(refs, max_size=8))
def test_a_token_set_reads_back_as_written_highest_level_first(given_refs: list[TokenRef]) -> None:
    parsed = parse_token_set(format_token_set(given_refs))
    assert sorted(parsed, key=repr) == sorted(given_refs, key=repr)
    assert [r.level for r in parsed] == sorted((r.level for r in parsed), reverse=True)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("urn:bfia:B:dataset:x/1", "not '<urn>/<level>/<token>'"),
        ("urn:other:B:dataset:x/1/" + "a" * 20, "is not urn:bfia:<node>:<type>:<id>"),
        ("urn:bfia:B:table:x/1/" + "a" * 20, "unknown resource type 'table'"),
        ("urn:bfia:B:dataset:x/0/" + "a" * 20, "level '0' is not 1-9"),
        ("urn:bfia:B:dataset:x/1/short", "malformed token"),
        ("urn:bfia:B:dataset:x/1/" + "a" * 20 + ",bad", "x-mprac-token-set[1]"),
    ],
)
def test_malformed_sets_are_refused_precisely(header: str, message: str) -> None:
    with pytest.raises(BadTokenSet, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_token_set(header)


def test_an_absent_header_is_no_permit() -> None:
    assert parse_token_set(None) == [] and parse_token_set("  ") == []
