"""The component registry on SQLite and PostgreSQL, and a job's check against it: every
problem names its field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from isthmus.components.builtin.ecdh_psi.component import SPEC as ECDH_PSI
from isthmus.scheduler.registry import ComponentRegistry, unknown_parameters
from isthmus.store import Store
from isthmus.wire.dag import parse_job
from isthmus.wire.errors import NotFound, ValidationFailed


@pytest.fixture
def registry(store_url: str) -> Iterator[ComponentRegistry]:
    store = Store(store_url)
    store.migrate()
    components = ComponentRegistry(store)
    components.register_builtins()
    yield components
    store.dispose()


def psi_job(params: dict[str, Any], version: str = "0.1.0") -> Any:
    return parse_job(
        {
            "job_id": "job-r",
            "dag": {"components": [{"name": "psi_0", "componentName": "ecdh_psi",
                                    "provider": "isthmus", "version": version, "input": [],
                                    "output": [{"type": "dataset", "key": "train_data"}]}]},
            "config": {
                "initiator": {"role": "guest", "node_id": "A"},
                "role": {"guest": ["A"], "host": ["B"], "arbiter": ["C"]},
                "task_params": params,
            },
        }
    )  # fmt: skip


def test_builtins_are_registered_once_and_versions_live_side_by_side(
    registry: ComponentRegistry,
) -> None:
    names = {(c["componentName"], c["version"]) for c in registry.list_components()}
    assert {("ecdh_psi", "0.1.0"), ("column_select", "0.1.0")} <= names
    assert registry.register_builtins() == 0
    newer = {**ECDH_PSI.self_description(), "version": "0.2.0"}
    registered, created = registry.register(newer, "registry.example/psi:0.2", "process")
    assert created and registered["state"] == "ENABLED"
    versions = [c["version"] for c in registry.list_components(name="ecdh_psi")]
    assert versions == ["0.1.0", "0.2.0"]
    registry.set_state(("ecdh_psi", "isthmus", "0.2.0"), "DISABLED")
    _, again = registry.register(newer, "registry.example/psi:0.2.1")  # re-register
    assert not again
    queried = registry.query(("ecdh_psi", "isthmus", "0.2.0"))
    assert queried["state"] == "DISABLED"  # a re-registration keeps the state
    assert queried["imageUrl"] == "registry.example/psi:0.2.1"
    assert queried["component_info"]["componentName"] == "ecdh_psi"
    with pytest.raises(NotFound):
        registry.query(("ecdh_psi", "isthmus", "0.2.0"), enabled_only=True)


def test_bad_registrations_are_refused(registry: ComponentRegistry) -> None:
    with pytest.raises(ValidationFailed, match="component_info"):
        registry.register({"provider": "x"})
    with pytest.raises(ValidationFailed, match="runner"):
        registry.register(ECDH_PSI.self_description(), runner="mainframe")
    with pytest.raises(ValidationFailed, match="state"):
        registry.set_state(("ecdh_psi", "isthmus", "0.1.0"), "BROKEN")
    with pytest.raises(NotFound):
        registry.set_state(("nope", "isthmus", "1"), "DISABLED")


def test_a_valid_job_has_no_problems(registry: ComponentRegistry) -> None:
    assert registry.check_job(psi_job({"common": {"psi_0": {"curve_type": "sm2"}}})) == []


@pytest.mark.parametrize(
    ("params", "version", "expected"),
    [
        ({}, "9.9.9",
         "dag.components[0].componentName: ecdh_psi 9.9.9 from isthmus is not registered here"),
        ({"common": {"psi_0": {"curve_type": "p256"}}}, "0.1.0",
         "config.task_params.common.psi_0.curve_type: parameter 'curve_type': "
         "'p256' is not one of ['curve25519', 'sm2']"),
        ({"host": {"0": {"psi_0": {"result_to_rank": "-5"}}}}, "0.1.0",
         "config.task_params.host.0.psi_0.result_to_rank: parameter 'result_to_rank': "
         "-5 is outside [-1,inf)"),
    ],
)  # fmt: skip
def test_each_problem_names_its_field(
    registry: ComponentRegistry, params: dict[str, Any], version: str, expected: str
) -> None:
    problems = [str(p) for p in registry.check_job(psi_job(params, version))]
    assert expected in problems


def test_a_disabled_component_is_refused(registry: ComponentRegistry) -> None:
    registry.set_state(("ecdh_psi", "isthmus", "0.1.0"), "DISABLED")
    problems = [str(p) for p in registry.check_job(psi_job({}))]
    assert problems == ["dag.components[0].componentName: ecdh_psi is DISABLED"]


def test_unknown_parameters_name_the_field_and_the_closest_names(
    registry: ComponentRegistry,
) -> None:
    """The initiator's stricter check: a typo is named with what was probably meant, in
    common and in a party's own section; dataset keys and declared names pass."""
    job = psi_job(
        {
            "common": {"psi_0": {"curve_typ": "sm2", "hash_type": "sm3", "zzzz": 1}},
            "host": {
                "0": {"psi_0": {"namespace": "d", "name": "b.csv", "protocl_families": "ecc"}}
            },
        }
    )
    problems = {p.field: p.message for p in unknown_parameters(registry, job)}
    assert problems == {
        "config.task_params.common.psi_0.curve_typ": (
            "component psi_0 (ecdh_psi) has no parameter 'curve_typ'; did you mean 'curve_type'?"
        ),
        "config.task_params.common.psi_0.zzzz": problems["config.task_params.common.psi_0.zzzz"],
        "config.task_params.host.0.psi_0.protocl_families": (
            "component psi_0 (ecdh_psi) has no parameter 'protocl_families'; "
            "did you mean 'protocol_families'?"
        ),
    }
    assert "it declares ['algo'," in problems["config.task_params.common.psi_0.zzzz"]
    assert unknown_parameters(registry, psi_job({"common": {"psi_0": {"curve_type": "sm2"}}})) == []
    # a component not registered here is the parties' check_job's to refuse
    assert unknown_parameters(registry, psi_job({"common": {"psi_0": {"x": 1}}}, "9.9.9")) == []
