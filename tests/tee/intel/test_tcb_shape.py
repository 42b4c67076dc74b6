"""Every TCB level field of a TCB info is shape-checked: a wrong type or range in any
level is TeeMalformed (the fast C-level checks fall back to the named-field refusal)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.tee.intel.collateral import load_collateral_json, signed_object
from isthmus.tee.intel.tcb import parse_tcb_info
from isthmus.wire.errors import TeeMalformed
from tests.support.shared import shared_path

_D = shared_path("tee-vectors", "intel", "dcap-qvl")
_DOCS = {
    name: signed_object(
        load_collateral_json((_D / f"{name}_collateral.json").read_text()).str_tcb_info,
        "tcbInfo",
        "str_tcb_info",
    )[2]
    for name in ("sgx_quote", "tdx_quote")
}
_BAD_SVNS = [True, False, None, -1, 0x10000, "1", 1.0, [1]]
_BAD_IDS = [None, "", 0, {}, "INTEL-SA-1", [1], [None], False]
_BAD_STATUS = [None, 1, "", "Bogus", ["UpToDate"], True]


def _mutations(level: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("pcesvn", v) for v in _BAD_SVNS]
    out += [("advisoryIDs", v) for v in _BAD_IDS]
    out += [("tcbStatus", v) for v in _BAD_STATUS]
    out += [("sgx", v) for v in _BAD_SVNS]
    if "tdxtcbcomponents" in level["tcb"]:
        out += [("tdx", v) for v in _BAD_SVNS]
    return out


def _apply(doc: dict[str, Any], index: int, field: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    level = doc["tcbLevels"][index]
    if field == "pcesvn":
        level["tcb"]["pcesvn"] = value
    elif field in ("advisoryIDs", "tcbStatus"):
        level[field] = value
    else:
        key = "sgxtcbcomponents" if field == "sgx" else "tdxtcbcomponents"
        level["tcb"][key][index % 16]["svn"] = value
    return doc


@pytest.mark.parametrize("name", sorted(_DOCS))
def test_the_vectors_parse(name: str) -> None:
    assert parse_tcb_info(_DOCS[name]).levels
    assert parse_tcb_info(json.dumps(_DOCS[name]).encode()) == parse_tcb_info(_DOCS[name])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(_DOCS)), st.data())
def test_any_bad_level_field_is_malformed(name: str, data: st.DataObject) -> None:
    doc = _DOCS[name]
    index = data.draw(st.integers(0, len(doc["tcbLevels"]) - 1))
    field, value = data.draw(st.sampled_from(_mutations(doc["tcbLevels"][index])))
    with pytest.raises(TeeMalformed):
        parse_tcb_info(_apply(doc, index, field, value))
