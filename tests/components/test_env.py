"""Reading the container contract: every variable typed, every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from isthmus.components import ContractError, TableRef, read_env
from tests.components.conftest import container_env


def test_the_contract_is_read_whole(storage: Path) -> None:
    env = read_env(
        container_env(
            storage,
            **{
                "runtime.component.parameter.options": '{"k": [1, 2]}',
                "config.node_id.host.10": "NODE_C",
                "PATH": "/usr/bin",
            },
        )
    )
    assert env.parties == ["guest.0", "host.0", "host.10"]
    assert (env.self_role, env.rank) == ("guest.0", 0)
    assert env.inst_ids == {"guest.0": "INST_A", "host.0": "INST_B", "host.10": "NODE_C"}
    assert env.parameters == {"columns": "id,age", "options": {"k": [1, 2]}}
    assert env.inputs == {"data": TableRef("ns", "people")}
    assert env.outputs == {"data": TableRef("job-1", "selected")}
    assert env.callback is None and "PATH" not in env.raw


def test_ranks_follow_yacl_lexicographic_order(storage: Path) -> None:
    env = read_env(
        container_env(
            storage,
            **{
                "config.self_role": "host.2",
                "config.node_id.host.2": "NODE_2",
                "config.node_id.host.10": "NODE_10",
            },
        )
    )
    assert env.parties == ["guest.0", "host.0", "host.10", "host.2"]
    assert env.rank == 3


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"config.task_id": ""}, "config.task_id"),
        ({"config.session_id": " "}, "config.session_id"),
        ({"runtime.component.name": ""}, "runtime.component.name"),
        ({"system.storage": ""}, "system.storage"),
        ({"config.self_role": "arbiter.0"}, "arbiter.0"),
        ({"config.node_id.guest": "X"}, "config.node_id.guest"),
        ({"runtime.component.input.data": "ns/people"}, "runtime.component.input.data"),
        ({"runtime.component.output.data": '{"name": "x"}'}, "runtime.component.output.data"),
    ],
)
def test_each_broken_variable_is_named(storage: Path, change: dict[str, str], named: str) -> None:
    with pytest.raises(ContractError) as exc:
        read_env(container_env(storage, **change))
    assert named in exc.value.message


def test_interconnection_impl_storage_variable_is_accepted(storage: Path) -> None:
    env = container_env(storage, **{"system.storage.host.url": f"file://{storage}"})
    del env["system.storage"]
    assert read_env(env).storage == f"file://{storage}"
