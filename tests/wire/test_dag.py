"""Jobs (DAG & conf): both dialects parse to one model; every invalid job names each
offending field; stages and downstream sets follow the dependencies."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.wire.dag import MAX_COMPONENTS, InvalidJob, parse_job
from tests.support.shared import wire_capture


def job() -> dict[str, Any]:
    return {
        "job_id": "job-1",
        "dag": {
            "version": "2.0",
            "components": [
                {"name": "select_0", "componentName": "column_select", "provider": "isthmus",
                 "version": "0.1.0", "input": [], "output": [{"type": "dataset", "key": "data"}]},
                {"name": "psi_0", "componentName": "ecdh_psi", "provider": "isthmus",
                 "version": "0.1.0", "input": [{"type": "dataset", "key": "select_0.data"}],
                 "output": [{"type": "dataset", "key": "train_data"},
                            {"type": "report", "key": "report"}]},
                {"name": "stats_0", "componentName": "summary", "provider": "isthmus",
                 "version": "0.1.0", "input": [{"type": "dataset", "key": "select_0.data"}],
                 "output": [{"type": "report", "key": "report"}]},
            ],
        },
        "config": {
            "version": "2.0",
            "initiator": {"role": "guest", "node_id": "NODE_A"},
            "role": {"guest": ["NODE_A"], "host": ["NODE_B", "NODE_C"]},
            "job_params": {"common": {"sync_type": "callback"},
                           "host": {"0|1": {"resources": {"cpu": 2}}}},
            "task_params": {
                "common": {"psi_0": {"curve_type": "curve25519"}},
                "guest": {"0": {"select_0": {"columns": "id,x"}}},
                "host": {"0|1": {"select_0": {"columns": "id"}},
                         "1": {"psi_0": {"curve_type": "sm2"}}},
            },
        },
    }  # fmt: skip


def test_a_valid_job_parses_with_its_stages_and_parameters() -> None:
    parsed = parse_job(job())
    assert [c.name for c in parsed.components] == ["select_0", "psi_0", "stats_0"]
    assert parsed.stages() == [["select_0"], ["psi_0", "stats_0"]]  # parallel branches
    assert parsed.downstream("select_0") == {"psi_0", "stats_0"}
    assert parsed.sync_type == "callback"
    assert parsed.parties() == [
        ("guest", 0, "NODE_A"),
        ("host", 0, "NODE_B"),
        ("host", 1, "NODE_C"),
    ]
    assert parsed.task_parameters("psi_0", "host", 1) == {"curve_type": "sm2"}
    assert parsed.task_parameters("psi_0", "host", 0) == {"curve_type": "curve25519"}
    assert parsed.task_parameters("select_0", "host", 1) == {"columns": "id"}


def test_kuscia_dialect_and_template_field_names_are_accepted() -> None:
    document = job()
    first = document["dag"]["components"][0]
    del first["componentName"], first["provider"]
    first.update(code="registry/isthmus:0.1", module_name="column_select")
    first["outputData"] = first.pop("output")
    document["config"]["initiator"] = {"role": "guest", "nodeId": "NODE_A"}
    parsed = parse_job(document)
    assert parsed.components[0].component_name == "column_select"
    assert parsed.components[0].image == "registry/isthmus:0.1"
    assert parsed.initiator_node == "NODE_A"


def test_fates_recorded_job_parses() -> None:
    capture = wire_capture("bfia_job_submitted_to_fate.json")
    parsed = parse_job(json.loads(capture.read_text()))
    assert parsed.stages() == [["intersect_rsa_1"], ["hetero_logistic_regression_1"]]
    assert set(parsed.roles) == {"guest", "host", "arbiter"}


def breaks(change: Any) -> list[str]:
    document = job()
    change(document)
    with pytest.raises(InvalidJob) as exc:
        parse_job(document)
    return [str(p) for p in exc.value.problems]


COMPONENTS = ("dag", "components")


def components(d: dict[str, Any]) -> list[dict[str, Any]]:
    return d["dag"]["components"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: components(d)[1].update(name="select_0"),
         "dag.components[1].name: 'select_0' is used twice"),
        (lambda d: components(d)[1].pop("componentName"),
         "dag.components[1].componentName: is required"),
        (lambda d: components(d)[2]["input"][0].update(key="nope_0.data"),
         "dag.components[2].input[0].key: 'nope_0.data' refers to no component 'nope_0'"),
        (lambda d: components(d)[2]["input"][0].update(key="select_0.model"),
         "dag.components[2].input[0].key: 'select_0.model': 'select_0' has no output 'model'"),
        (lambda d: components(d)[2]["input"][0].update(type="model"),
         "dag.components[2].input[0].type: 'model' but 'select_0.data' is a 'dataset'"),
        (lambda d: components(d)[0]["input"].append({"type": "report", "key": "stats_0.report"}),
         "dag.components: inputs form a cycle: select_0 <- stats_0 <- select_0"),
        (lambda d: d["config"]["role"].update(arbiter=[]),
         "config.role.arbiter: must be a non-empty list of node ids"),
        (lambda d: d["config"]["initiator"].update(node_id="NODE_B"),
         "config.initiator.node_id: 'NODE_B' is not a node of role 'guest'"),
        (lambda d: d["config"]["task_params"]["host"].update({"2": {}}),
         "config.task_params.host.2: role 'host' has no party 2"),
        (lambda d: d["config"]["task_params"].update(arbiter={"0": {}}),
         "config.task_params.arbiter: 'arbiter' is not a role of the job"),
        (lambda d: d["config"]["task_params"]["common"].update(lr_0={}),
         "config.task_params.common.lr_0: names no component of the DAG"),
        (lambda d: d["config"]["task_params"]["guest"].update({"x": {}}),
         "config.task_params.guest.x: party index must be like '0' or '0|1'"),
        (lambda d: d["config"]["job_params"]["common"].update(sync_type="push"),
         "config.job_params.common.sync_type: 'push' is not poll or callback"),
        (lambda d: d.pop("dag"), "dag: is required and must be an object"),
    ],
)  # fmt: skip
def test_each_invalid_job_names_the_offending_field(change: Any, expected: str) -> None:
    assert expected in breaks(change)


def test_every_problem_is_reported_at_once() -> None:
    def many(d: dict[str, Any]) -> None:
        components(d)[1]["name"] = "select_0"
        d["config"]["initiator"]["role"] = "arbiter"

    problems = breaks(many)
    assert problems[0] == "dag.components[1].name: 'select_0' is used twice"
    assert "config.initiator.role: 'arbiter' is not a role of the job" in problems
    # ... and what follows from the rename: psi_0's parameters now name no component.
    assert "config.task_params.common.psi_0: names no component of the DAG" in problems


@given(st.lists(st.lists(st.integers(0, 30), max_size=3), min_size=1, max_size=12))
def test_stages_respect_every_dependency(parents: list[list[int]]) -> None:
    """Random DAGs (each component reads only earlier ones) come out in valid stages."""
    document = job()
    built = []
    for i, ups in enumerate(parents):
        inputs = [{"type": "dataset", "key": f"c{u % i}.out"} for u in ups] if i else []
        built.append({"name": f"c{i}", "componentName": "x", "version": "1",
                      "input": inputs, "output": [{"type": "dataset", "key": "out"}]})  # fmt: skip
    document["dag"]["components"] = built
    document["config"]["task_params"] = {}
    parsed = parse_job(copy.deepcopy(document))
    stage_of = {name: s for s, names in enumerate(parsed.stages()) for name in names}
    for component in parsed.components:
        for upstream in component.upstream():
            assert stage_of[upstream] < stage_of[component.name]
    assert sorted(stage_of) == sorted(c["name"] for c in built)


LONG_ID = "x" * 10_000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(job_id="../x"), "job_id"),
        (lambda d: d.update(flow_id="/abs"), "flow_id"),
        (lambda d: components(d)[0].update(name="a\x00b"), "dag.components[0].name"),
        (lambda d: components(d)[0].update(name=LONG_ID), "dag.components[0].name"),
        (lambda d: components(d)[0].update(componentName="../bin"),
         "dag.components[0].componentName"),
        (lambda d: components(d)[0].update(version="1/2"), "dag.components[0].version"),
        (lambda d: components(d)[0]["output"][0].update(key="../d"),
         "dag.components[0].output[0].key"),
        (lambda d: d["config"]["role"].update(host=["NODE_B", "/etc"]), "config.role.host[1]"),
        (lambda d: d["config"]["task_params"]["guest"]["0"]["select_0"].update(
            dataset_id="a#../b"), "config.task_params.guest.0.select_0.dataset_id"),
        (lambda d: d["config"]["task_params"]["guest"]["0"]["select_0"].update(
            namespace="..", name="t"), "config.task_params.guest.0.select_0.namespace"),
        (lambda d: d["config"]["task_params"]["common"]["psi_0"].update(model_id=LONG_ID),
         "config.task_params.common.psi_0.model_id"),
        (lambda d: d.update(job_id="j" * 250), "dag.components[0].name"),  # task id too long
    ],
)  # fmt: skip
def test_every_id_from_outside_is_checked_and_named(change: Any, field: str) -> None:
    found = breaks(change)
    assert any(p.startswith(f"{field}: ") for p in found), found
    assert all(len(p) < 400 for p in found)  # a 10k id is never echoed whole


def test_a_parameter_called_name_alone_is_not_a_dataset() -> None:
    document = job()
    document["config"]["task_params"]["common"]["psi_0"]["name"] = "any text at all"
    parse_job(document)


def chain(n: int, *, cyclic: bool) -> list[dict[str, Any]]:
    return [
        {"name": f"c{i}", "componentName": "x", "version": "1",
         "input": [{"type": "dataset", "key": f"c{(i - 1) % n}.out"}] if i or cyclic else [],
         "output": [{"type": "dataset", "key": "out"}]}
        for i in range(n)
    ]  # fmt: skip


def test_long_cycles_are_named_without_recursion_and_size_is_bounded() -> None:
    document = job()
    document["config"]["task_params"] = {}
    document["dag"]["components"] = chain(MAX_COMPONENTS, cyclic=True)
    found = breaks(lambda d: d.update(document))
    assert found == [
        f"dag.components: inputs form a cycle of {MAX_COMPONENTS}: c0 <- c{MAX_COMPONENTS - 1}"
        f" <- c{MAX_COMPONENTS - 2} <- c{MAX_COMPONENTS - 3} <- c{MAX_COMPONENTS - 4} <- "
        f"c{MAX_COMPONENTS - 5} <- ... <- c4 <- c3 <- c2 <- c1 <- c0"
    ]
    document["dag"]["components"] = chain(3000, cyclic=True)
    assert breaks(lambda d: d.update(document)) == [
        f"dag.components: 3000 components is over the limit of {MAX_COMPONENTS}"
    ]
    # The longest chain allowed parses, in stages, without recursion.
    document["dag"]["components"] = chain(MAX_COMPONENTS, cyclic=False)
    parsed = parse_job(document)
    assert len(parsed.stages()) == MAX_COMPONENTS
    assert len(parsed.downstream("c0")) == MAX_COMPONENTS - 1
