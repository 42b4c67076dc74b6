"""The bounded JSON reader: the same answer as json.loads within bounds, a refusal past them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.wire.errors import PayloadTooLarge, ValidationFailed
from isthmus.wire.jsonbody import loads_bounded, nesting_depth

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(JSON)
def test_within_bounds_it_is_json_loads(value: object) -> None:
    text = json.dumps(value)
    assert loads_bounded(text) == json.loads(text)


@given(JSON)
def test_the_scan_measures_the_real_depth(value: object) -> None:
    def depth(v: object) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    assert nesting_depth(json.dumps(value).encode(), 1000) == depth(value)


def test_brackets_inside_strings_do_not_count() -> None:
    assert nesting_depth(b'{"a": "[[[[{{{\\"]]]"}', 100) == 1


@pytest.mark.parametrize("depth", [65, 1000, 200_000])
def test_deep_documents_are_refused_before_parsing(depth: int) -> None:
    with pytest.raises(ValidationFailed, match="nested deeper than 64"):
        loads_bounded(b"[" * depth + b"]" * depth)


def test_size_is_refused_before_scanning() -> None:
    with pytest.raises(PayloadTooLarge):
        loads_bounded(b" " * 101, max_bytes=100)


@pytest.mark.parametrize("body", [b"{", b'{"a": ', b"\xff\xfe", b"NaNx", b'"\\'])
def test_garbage_is_a_validation_error(body: bytes) -> None:
    with pytest.raises(ValidationFailed):
        loads_bounded(body)


def test_pathological_quotes_scan_in_linear_time() -> None:
    # Each quote of an unterminated run must not rescan to the end (quadratic).
    body = b'"' + b'\\"' * 2_000_000
    # A quadratic scan of these 4 MB would take hours: the suite's timeout catches it.
    with pytest.raises(ValidationFailed):
        loads_bounded(body)
