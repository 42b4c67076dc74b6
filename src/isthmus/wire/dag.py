"""BFIA jobs: the DAG and its configuration ("DAG&CONF", digest §2.5), both dialects.

``parse_job`` turns a submitted document into one normalized ``Job`` or raises
``InvalidJob`` listing every problem with the exact field it concerns
(``dag.components[1].input[0].key``), so an operator fixes a job in one round:

* components: unique names, a component name and version, outputs unique per component;
* inputs: ``"<upstream name>.<output key>"`` naming an existing component's output of
  the same category; no cycles (the cycle is named);
* roles: every role has nodes, the initiator is one of its role's nodes;
* ``job_params`` / ``task_params``: roles that exist, party indices (``"0"``, FATE's
  ``"0|1"``) within the role, component names that exist, ``sync_type`` poll|callback.

Accepted dialects: ``componentName``/``provider`` (v1.2, FATE) and Kuscia's older
``code`` (image)/``module_name``; ``input``/``output`` or the guide template's
``inputData``/``outputData``; ``node_id`` or ``nodeId``. What is checked against the
components themselves (known, enabled, parameters valid, partners under contract) needs
the registry and is the scheduler's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from isthmus.wire.errors import ValidationFailed

SYNC_TYPES = ("poll", "callback")
_INDEX = re.compile(r"^\d+(\|\d+)*$")


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidJob(ValidationFailed):
    """A job that cannot run as submitted; ``problems`` names every offending field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(
            f"invalid job: {shown}{more}",
            details={"problems": [{"field": p.field, "message": p.message} for p in problems]},
        )


@dataclass(frozen=True)
class DataRef:
    type: str
    key: str


@dataclass(frozen=True)
class DagComponent:
    name: str
    component_name: str
    provider: str
    version: str
    inputs: tuple[DataRef, ...]
    outputs: tuple[DataRef, ...]
    image: str | None = None

    def upstream(self) -> set[str]:
        return {ref.key.split(".", 1)[0] for ref in self.inputs}


@dataclass(frozen=True)
class Job:
    job_id: str | None
    flow_id: str | None
    components: tuple[DagComponent, ...]
    initiator_role: str
    initiator_node: str
    roles: dict[str, list[str]]
    sync_type: str
    job_params: dict[str, Any] = field(default_factory=dict)
    task_params: dict[str, Any] = field(default_factory=dict)

    def component(self, name: str) -> DagComponent:
        return next(c for c in self.components if c.name == name)

    def stages(self) -> list[list[str]]:
        """Component names in dependency order, grouped: everything in a stage can run
        at once (its upstream all sits in earlier stages)."""
        remaining = {c.name: c.upstream() for c in self.components}
        stages: list[list[str]] = []
        done: set[str] = set()
        while remaining:
            ready = sorted(n for n, up in remaining.items() if up <= done)
            stages.append(ready)
            done.update(ready)
            for name in ready:
                del remaining[name]
        return stages

    def downstream(self, name: str) -> set[str]:
        """Every component that depends on ``name``, directly or not."""
        found: set[str] = set()
        frontier = {name}
        while frontier:
            frontier = {
                c.name for c in self.components if c.upstream() & frontier and c.name not in found
            }
            found |= frontier
        return found

    def parties(self) -> list[tuple[str, int, str]]:
        """Every (role, index, node id)."""
        return [(r, i, n) for r, nodes in self.roles.items() for i, n in enumerate(nodes)]

    def task_parameters(self, component: str, role: str, index: int) -> dict[str, Any]:
        """The parameters one party's task gets: ``common`` overlaid with the party's own
        (under ``"<index>"`` or a FATE ``"0|1"`` key naming it)."""
        merged = dict(self.task_params.get("common", {}).get(component, {}))
        for key, per_component in self.task_params.get(role, {}).items():
            if str(index) in key.split("|"):
                merged.update(per_component.get(component, {}))
        return merged


def parse_job(document: Mapping[str, Any]) -> Job:
    problems: list[Problem] = []
    dag = _mapping(document.get("dag"), "dag", problems)
    config = _mapping(document.get("config"), "config", problems)
    components = _components(dag.get("components"), problems)
    _check_inputs(components, problems)
    _check_cycles(components, problems)
    roles = _roles(config.get("role"), problems)
    initiator = _mapping(config.get("initiator"), "config.initiator", problems)
    initiator_role = str(initiator.get("role") or "")
    initiator_node = str(initiator.get("node_id") or initiator.get("nodeId") or "")
    if roles and initiator:
        if initiator_role not in roles:
            problems.append(
                Problem("config.initiator.role", f"{initiator_role!r} is not a role of the job")
            )
        elif initiator_node not in roles[initiator_role]:
            problems.append(
                Problem(
                    "config.initiator.node_id",
                    f"{initiator_node!r} is not a node of role {initiator_role!r}",
                )
            )
    names = {c.name for c in components}
    job_params = _mapping(config.get("job_params", {}), "config.job_params", problems)
    task_params = _mapping(config.get("task_params", {}), "config.task_params", problems)
    _check_params(job_params, "config.job_params", roles, None, problems)
    _check_params(task_params, "config.task_params", roles, names, problems)
    sync_type = str(job_params.get("common", {}).get("sync_type", "poll"))
    if sync_type not in SYNC_TYPES:
        problems.append(
            Problem("config.job_params.common.sync_type", f"{sync_type!r} is not poll or callback")
        )
    if problems:
        raise InvalidJob(problems)
    return Job(
        job_id=_optional_str(document.get("job_id")),
        flow_id=_optional_str(document.get("flow_id")),
        components=tuple(components),
        initiator_role=initiator_role,
        initiator_node=initiator_node,
        roles=roles,
        sync_type=sync_type,
        job_params=dict(job_params),
        task_params=dict(task_params),
    )


def _optional_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _mapping(value: Any, where: str, problems: list[Problem]) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    problems.append(Problem(where, "is required and must be an object"))
    return {}


def _components(value: Any, problems: list[Problem]) -> list[DagComponent]:
    if not isinstance(value, list) or not value:
        problems.append(Problem("dag.components", "must be a non-empty list"))
        return []
    components: list[DagComponent] = []
    seen: set[str] = set()
    for i, raw in enumerate(value):
        where = f"dag.components[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(Problem(where, "must be an object"))
            continue
        name = str(raw.get("name") or "")
        component_name = str(raw.get("componentName") or raw.get("module_name") or "")
        if not name:
            problems.append(Problem(f"{where}.name", "is required"))
        elif name in seen:
            problems.append(Problem(f"{where}.name", f"{name!r} is used twice"))
        elif "." in name:
            problems.append(Problem(f"{where}.name", f"{name!r} must not contain '.'"))
        seen.add(name)
        if not component_name:
            problems.append(Problem(f"{where}.componentName", "is required"))
        if not raw.get("version"):
            problems.append(Problem(f"{where}.version", "is required"))
        inputs = _refs(raw.get("input", raw.get("inputData", [])), f"{where}.input", problems)
        outputs = _refs(raw.get("output", raw.get("outputData", [])), f"{where}.output", problems)
        keys = [o.key for o in outputs]
        for j, key in enumerate(keys):
            if keys.index(key) != j:
                problems.append(Problem(f"{where}.output[{j}].key", f"{key!r} is used twice"))
        components.append(
            DagComponent(
                name=name,
                component_name=component_name,
                provider=str(raw.get("provider") or ""),
                version=str(raw.get("version") or ""),
                inputs=tuple(inputs),
                outputs=tuple(outputs),
                image=_optional_str(raw.get("code")),
            )
        )
    return components


def _refs(value: Any, where: str, problems: list[Problem]) -> list[DataRef]:
    if not isinstance(value, list):
        problems.append(Problem(where, "must be a list of {type, key}"))
        return []
    refs: list[DataRef] = []
    for j, raw in enumerate(value):
        if not isinstance(raw, Mapping) or not raw.get("key") or not raw.get("type"):
            problems.append(Problem(f"{where}[{j}]", "must be {type, key} with both set"))
            continue
        refs.append(DataRef(str(raw["type"]), str(raw["key"])))
    return refs


def _check_inputs(components: list[DagComponent], problems: list[Problem]) -> None:
    outputs: dict[str, dict[str, str]] = {}
    for component in components:  # a duplicated name is reported already: first one wins
        outputs.setdefault(component.name, {o.key: o.type for o in component.outputs})
    first = {c.name: i for i, c in reversed(list(enumerate(components)))}
    for i, component in enumerate(components):
        if first[component.name] != i:
            continue
        for j, ref in enumerate(component.inputs):
            where = f"dag.components[{i}].input[{j}].key"
            upstream, _, key = ref.key.partition(".")
            if not key:
                problems.append(Problem(where, f"{ref.key!r} is not '<component>.<output>'"))
            elif upstream not in outputs:
                problems.append(Problem(where, f"{ref.key!r} refers to no component {upstream!r}"))
            elif upstream == component.name:
                problems.append(Problem(where, f"{ref.key!r}: a component cannot read itself"))
            elif key not in outputs[upstream]:
                problems.append(Problem(where, f"{ref.key!r}: {upstream!r} has no output {key!r}"))
            elif outputs[upstream][key] != ref.type:
                problems.append(
                    Problem(
                        f"dag.components[{i}].input[{j}].type",
                        f"{ref.type!r} but {ref.key!r} is a {outputs[upstream][key]!r}",
                    )
                )


def _check_cycles(components: list[DagComponent], problems: list[Problem]) -> None:
    edges = {c.name: sorted(c.upstream() & {d.name for d in components}) for c in components}
    state: dict[str, int] = {}  # 1 = on the path, 2 = done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for upstream in edges.get(name, []):
            if upstream == name:
                continue  # reported by _check_inputs
            if state.get(upstream) == 1:
                return [*path[path.index(upstream) :], upstream]
            if upstream not in state:
                cycle = visit(upstream)
                if cycle:
                    return cycle
        path.pop()
        state[name] = 2
        return None

    for name in edges:
        if name not in state:
            cycle = visit(name)
            if cycle:
                chain = " <- ".join(cycle)
                problems.append(Problem("dag.components", f"inputs form a cycle: {chain}"))
                return


def _roles(value: Any, problems: list[Problem]) -> dict[str, list[str]]:
    if not isinstance(value, Mapping) or not value:
        problems.append(Problem("config.role", "is required: role -> [node ids]"))
        return {}
    roles: dict[str, list[str]] = {}
    for role, nodes in value.items():
        if (
            not isinstance(nodes, list)
            or not nodes
            or not all(isinstance(n, str) and n for n in nodes)
        ):
            problems.append(Problem(f"config.role.{role}", "must be a non-empty list of node ids"))
            continue
        roles[str(role)] = list(nodes)
    return roles


def _check_params(
    params: Mapping[str, Any],
    where: str,
    roles: dict[str, list[str]],
    components: set[str] | None,
    problems: list[Problem],
) -> None:
    for role, by_party in params.items():
        if role == "common":
            if components is not None and isinstance(by_party, Mapping):
                for name in by_party:
                    if name not in components:
                        problems.append(
                            Problem(f"{where}.common.{name}", "names no component of the DAG")
                        )
            continue
        if role not in roles:
            problems.append(Problem(f"{where}.{role}", f"{role!r} is not a role of the job"))
            continue
        if not isinstance(by_party, Mapping):
            problems.append(Problem(f"{where}.{role}", "must be an object keyed by party index"))
            continue
        for index_key, values in by_party.items():
            key_where = f"{where}.{role}.{index_key}"
            if not _INDEX.match(str(index_key)):
                problems.append(Problem(key_where, "party index must be like '0' or '0|1'"))
                continue
            for index in str(index_key).split("|"):
                if int(index) >= len(roles[role]):
                    problems.append(Problem(key_where, f"role {role!r} has no party {index}"))
            if components is not None and isinstance(values, Mapping):
                for name in values:
                    if name not in components:
                        problems.append(
                            Problem(f"{key_where}.{name}", "names no component of the DAG")
                        )
