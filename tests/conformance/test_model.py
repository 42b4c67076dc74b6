"""The conformance model: targets load from files and refuse nonsense; run ids are valid
ids under the wire layer's pattern and unique within a run."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from isthmus.conformance.context import RunIds
from isthmus.conformance.model import CheckResult, Outcome, Part, Target
from isthmus.wire.ids import ID_PATTERN

TOML = """
node_id = "PARTNER_1"
address = "https://partner.example:8443"
claims = ["management", "transport-south-north"]
contract_id = "contract-1"
rate_per_s = 2.5
"""


def test_the_names_other_platforms_write_in_target_files_are_fixed() -> None:
    assert [p.value for p in Part] == [
        "management",
        "scheduling",
        "transport-south-north",
        "transport-east-west",
        "ecdh-psi-link",
        "secure-operators",
        "uas",
    ]
    assert [o.value for o in Outcome] == ["pass", "fail", "not-applicable", "error"]


def test_a_target_loads_from_toml_and_from_json(tmp_path: Path) -> None:
    toml = tmp_path / "target.toml"
    toml.write_text(TOML, encoding="utf-8")
    target = Target.load(toml)
    assert target.claims == {Part.MANAGEMENT, Part.TRANSPORT_SN}
    assert target.rate_per_s == 2.5
    assert target.signature_scheme == "isthmus-sig-1"
    as_json = tmp_path / "target.json"
    as_json.write_text(json.dumps(target.model_dump(mode="json")), encoding="utf-8")
    assert Target.load(as_json) == target


@pytest.mark.parametrize(
    "change",
    [
        {"node_id": "../etc"},
        {"claims": ["management", "telepathy"]},
        {"rate_per_s": 0},
        {"signature_scheme": "md5"},
        {"surprise": 1},
    ],
)
def test_a_target_file_with_a_mistake_is_refused(change: dict[str, object]) -> None:
    base = {"node_id": "P", "address": "http://127.0.0.1:1"}
    with pytest.raises(ValidationError):
        Target.model_validate({**base, **change})


def test_a_check_result_is_immutable() -> None:
    result = CheckResult("a.b", "t", Part.UAS, "§6", Outcome.PASS, "ok", None, (), 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.outcome = Outcome.FAIL  # type: ignore[misc]


@given(st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True), max_size=30))
def test_run_ids_are_valid_wire_ids_unique_and_carry_the_run_prefix(kinds: list[str]) -> None:
    ids = RunIds()
    made = [ids.new(kind) for kind in kinds]
    assert len(set(made)) == len(made)
    for value in made:
        assert re.match(ID_PATTERN, value), value
        assert ".." not in value
        assert value.startswith(ids.prefix)
    assert re.fullmatch(r"cfk[0-9a-f]{8}-", ids.prefix)


@pytest.mark.parametrize("kind", ["", "Job", "a/b", "x" * 40, "-job"])
def test_an_id_kind_outside_the_pattern_is_a_bug_in_the_check(kind: str) -> None:
    with pytest.raises(ValueError, match="kind"):
        RunIds().new(kind)
