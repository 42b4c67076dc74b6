"""The audit chain as a pure function: any single edit of an exported chain is caught."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from isthmus.store.audit import GENESIS_HASH, event_hash, verify_chain


def build(entries: list[tuple[str, str]]) -> list[dict[str, Any]]:
    chain, prev = [], GENESIS_HASH
    for seq, (actor, action) in enumerate(entries, start=1):
        event = {
            "seq": seq,
            "ts": 1_700_000_000_000 + seq,
            "actor": actor,
            "action": action,
            "subject": "s",
            "outcome": "ok",
            "details": json.dumps({"n": seq}),
            "prev_hash": prev,
        }
        event["hash"] = event_hash(event)
        prev = event["hash"]
        chain.append(event)
    return chain


entries = st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), min_size=1, max_size=8)


@given(entries)
def test_an_intact_chain_verifies(items: list[tuple[str, str]]) -> None:
    chain = build(items)
    verdict = verify_chain(chain, (len(chain), chain[-1]["hash"]))
    assert verdict.ok and verdict.checked == len(chain)


@given(entries, st.data())
def test_any_field_edit_is_detected(items: list[tuple[str, str]], data: st.DataObject) -> None:
    chain = build(items)
    index = data.draw(st.integers(0, len(chain) - 1))
    field = data.draw(st.sampled_from(["ts", "actor", "action", "subject", "outcome", "details"]))
    original = chain[index][field]
    chain[index][field] = original + 1 if isinstance(original, int) else original + "!"
    assert not verify_chain(chain, (len(chain), chain[-1]["hash"])).ok


@given(entries, st.data())
def test_removal_or_swap_is_detected(items: list[tuple[str, str]], data: st.DataObject) -> None:
    chain = build(items)
    head = (len(chain), chain[-1]["hash"])
    index = data.draw(st.integers(0, len(chain) - 1))
    shortened = chain[:index] + chain[index + 1 :]
    assert not verify_chain(shortened, head).ok
    if len(chain) > 1:
        swapped = list(chain)
        swapped[0], swapped[-1] = swapped[-1], swapped[0]
        assert not verify_chain(swapped, head).ok
