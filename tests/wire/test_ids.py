"""The id pattern and the path helper: no string they accept escapes the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.wire.errors import ValidationFailed
from isthmus.wire.ids import (
    MAX_ID_LENGTH,
    InvalidId,
    PathOutsideRoot,
    check_dataset_id,
    check_id,
    inside,
    is_valid_id,
)

HOSTILE = [
    "",
    ".",
    "..",
    "../x",
    "a/../../b",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "a\x00b",
    "a\nb",
    "a b",
    ".hidden",
    "-rf",
    "a..b",
    "x" * (MAX_ID_LENGTH + 1),
    "é",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_ids_are_refused_naming_the_field(value: str) -> None:
    assert not is_valid_id(value)
    with pytest.raises(InvalidId, match=r"^task_id: ") as caught:
        check_id(value, "task_id")
    assert isinstance(caught.value, ValidationFailed)
    assert caught.value.details == {"field": "task_id"}


@pytest.mark.parametrize(
    "value", ["job-1", "202212011200_abc", "session_job-7c1f", "NODE_A", "a.b", "x" * MAX_ID_LENGTH]
)
def test_ordinary_ids_pass(value: str) -> None:
    assert check_id(value) == value


def test_dataset_ids_are_two_ids_joined_by_one_hash() -> None:
    assert check_dataset_id("bank#customers") == "bank#customers"
    for bad in ["bank", "bank#", "#x", "a#b#c", "../a#b", "a#/etc/passwd"]:
        with pytest.raises(InvalidId):
            check_dataset_id(bad)


def test_non_strings_are_refused() -> None:
    for value in [None, 3, b"job", ["job"]]:
        with pytest.raises(InvalidId):
            check_id(value)


@settings(max_examples=400)
@given(st.text(max_size=300))
def test_every_accepted_id_is_one_plain_path_component(value: str) -> None:
    if is_valid_id(value):
        assert "/" not in value and "\x00" not in value and ".." not in value
        assert value not in (".", "..") and not value.startswith(("-", "."))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=20), min_size=1, max_size=4))
def test_no_path_inside_accepts_escapes_the_root(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str]
) -> None:
    root = tmp_path_factory.getbasetemp() / "root"
    root.mkdir(exist_ok=True)
    try:
        path = inside(root, *parts)
    except PathOutsideRoot:
        return
    assert path.is_relative_to(root.resolve())


def test_a_link_planted_in_the_root_does_not_lead_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink("/etc", root / "escape")
    with pytest.raises(PathOutsideRoot):
        inside(root, "escape", "passwd")
    assert inside(root, "job-1", "log.txt") == root.resolve() / "job-1" / "log.txt"


@pytest.mark.parametrize("part", ["/abs", "..", ".", "", "a/b", "a\x00"])
def test_parts_that_are_not_one_name_are_refused(tmp_path: Path, part: str) -> None:
    with pytest.raises(PathOutsideRoot):
        inside(tmp_path, part)
