"""The job pages' pure parts: the DAG layout (every edge points down a layer, no two
boxes overlap), the live state's diff (applying the changes rebuilds the new state,
and nothing is sent when nothing moved), the list's filters and the form's errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.console.dag_layout import BOX_H, BOX_W, edges, layout, size
from isthmus.console.job_form import FormErrors, field_errors, read_form
from isthmus.console.job_list import Filters, keep, read_filters
from isthmus.console.job_state import apply, changes, snapshot


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """A random DAG: each task's inputs drawn from the tasks before it."""
    n = draw(st.integers(0, 24))
    names = [f"t{i}" for i in range(n)]
    return {
        name: draw(st.lists(st.sampled_from(names[:i]), max_size=4)) if i else []
        for i, name in enumerate(names)
    }


@given(dags())
def test_every_edge_points_down_a_layer(dag: dict[str, list[str]]) -> None:
    pos = layout(dag)
    assert set(pos) == set(dag)
    for task, ups in dag.items():
        for up in ups:
            assert pos[task].layer > pos[up].layer
            assert pos[task].y >= pos[up].y + BOX_H
    for e in edges(dag, pos):
        assert e.y2 > e.y1


@given(dags())
def test_no_two_boxes_overlap_and_all_fit(dag: dict[str, list[str]]) -> None:
    pos = list(layout(dag).values())
    width, height = size(layout(dag))
    for i, a in enumerate(pos):
        assert a.x >= 0 and a.x + BOX_W <= width and a.y >= 0 and a.y + BOX_H <= height
        for b in pos[i + 1 :]:
            apart_x = a.x + BOX_W <= b.x or b.x + BOX_W <= a.x
            apart_y = a.y + BOX_H <= b.y or b.y + BOX_H <= a.y
            assert apart_x or apart_y, (a, b)


def test_a_chain_stays_straight_and_a_cycle_does_not_crash() -> None:
    pos = layout({"a": [], "b": ["a"], "c": ["b"]})
    assert len({p.x for p in pos.values()}) == 1
    assert [pos[n].layer for n in "abc"] == [0, 1, 2]
    looped = layout({"a": ["c"], "b": ["a"], "c": ["b"], "d": []})
    assert set(looped) == {"a", "b", "c", "d"}


def _status(job: str, tasks: dict[str, str]) -> dict[str, object]:
    return {
        "job_status": job,
        "tasks": [
            {"task_name": n, "status": s, "parties": [{"node_id": "A", "role": "guest",
                                                        "status": s}]}
            for n, s in tasks.items()
        ],
    }  # fmt: skip


_STATES = st.sampled_from(["PENDING", "RUNNING", "SUCCESS", "FAILED"])


@given(st.dictionaries(st.sampled_from("abcd"), _STATES), st.dictionaries(st.sampled_from("abcd"),
       _STATES), _STATES, _STATES)  # fmt: skip
def test_applying_the_changes_rebuilds_the_new_state(
    t1: dict[str, str], t2: dict[str, str], j1: str, j2: str
) -> None:
    before, after = snapshot(_status(j1, t1)), snapshot(_status(j2, {**t1, **t2}))
    change = changes(before, after)
    assert apply(before, change) == after
    assert changes(after, after) == {}
    assert set(change.get("tasks", {})) == {k for k in after["tasks"] if t1.get(k) != t2.get(k,
                                            t1.get(k))}  # fmt: skip
    assert changes(None, after) == after


def test_filters_keep_what_they_say() -> None:
    rows = [
        {"job_id": "j1", "status": "SUCCESS", "initiator": "A", "created_at": 1_700_000_000_000},
        {"job_id": "j2", "status": "FAILED", "initiator": "B", "created_at": 1_800_000_000_000},
    ]
    assert [r["job_id"] for r in keep(rows, Filters())] == ["j1", "j2"]
    assert [r["job_id"] for r in keep(rows, Filters(status="FAILED"))] == ["j2"]
    assert [r["job_id"] for r in keep(rows, Filters(initiator="A"))] == ["j1"]
    assert [r["job_id"] for r in keep(rows, Filters(since="2024-01-01"))] == ["j2"]
    assert read_filters({"status": "<script>", "since": "x"}) == Filters(since="x")
    assert Filters(since="x").since_ms() is None


def test_the_form_reads_a_whole_document_or_two_parts_and_names_bad_fields() -> None:
    whole = '{"flow_id": "f", "dag": {"components": []}, "config": {"role": {}}}'
    assert read_form({"dag": whole, "config": ""}) == {
        "flow_id": "f", "dag": {"components": []}, "config": {"role": {}}
    }  # fmt: skip
    assert read_form({"dag": "{}", "config": "{}", "flow_id": "g"}) == {
        "dag": {}, "config": {}, "flow_id": "g"
    }  # fmt: skip
    with pytest.raises(FormErrors) as bad:
        read_form({"dag": "[1]", "config": "{"})
    assert set(bad.value.errors) == {"dag", "config"}


def test_refusals_go_against_the_field_they_name() -> None:
    problems = {"problems": [
        {"field": "dag.components[0].input[0].key", "message": "inputs form a cycle"},
        {"field": "config.role", "message": "empty"},
        {"field": "job_id", "message": "bad"},
    ]}  # fmt: skip
    found = field_errors("invalid job", problems)
    assert found == {
        "dag": ["dag.components[0].input[0].key: inputs form a cycle"],
        "config": ["config.role: empty"],
        "form": ["job_id: bad"],
    }
    refused = "job j rejected: B refused: dag.components[1].componentName: no_such 0.1.0"
    assert field_errors(refused, {}) == {"dag": [refused]}
    assert field_errors("scheduler down", None) == {"form": ["scheduler down"]}
