"""BFIA jobs: the DAG and its configuration ("DAG&CONF", digest §2.5), both dialects.

``parse_job`` turns a submitted document into one normalized ``Job`` or raises
``InvalidJob`` listing every problem with the exact field it concerns
(``dag.components[1].input[0].key``), so an operator fixes a job in one round:

* components: unique names, a component name and version, outputs unique per component;
* inputs: ``"<upstream name>.<output key>"`` naming an existing component's output of
  the same category; no cycles (the cycle is named);
* roles: every role has nodes, the initiator is one of its role's nodes;
* ids: every id that ends up in a file name, a process environment or a row (job and
  flow ids, component names and the task ids made from them, roles, node ids, output
  keys, the datasets and models task parameters name) matches the one id pattern of
  ``isthmus.wire.ids``, each refusal naming its field;
* size: at most ``MAX_COMPONENTS`` components, and every check runs without recursion in
  time linear in the DAG, so a huge or cyclic DAG gets an answer, never a crash;
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
from isthmus.wire.ids import MAX_ID_LENGTH, is_valid_id
from isthmus.wire.management import is_dataset_id

SYNC_TYPES = ("poll", "callback")
_INDEX = re.compile(r"^\d+(\|\d+)*$")
#: Far above any real pipeline (tens of components), low enough that checking and
#: scheduling a DAG stays cheap.
MAX_COMPONENTS = 1024
#: An ``InvalidJob`` carries at most this many problems in its details.
MAX_PROBLEMS = 100
#: Task parameters that name a dataset or a model (checked as ids).
_ID_PARAMS = ("namespace", "name", "model_id")


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
        listed = problems[:MAX_PROBLEMS]
        super().__init__(
            f"invalid job: {shown}{more}",
            details={"problems": [{"field": p.field, "message": p.message} for p in listed]},
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
        waiting, readers = _graph(self.components)
        stages: list[list[str]] = []
        ready = sorted(n for n, count in waiting.items() if count == 0)
        while ready:
            stages.append(ready)
            following: list[str] = []
            for name in ready:
                for reader in readers[name]:
                    waiting[reader] -= 1
                    if waiting[reader] == 0:
                        following.append(reader)
            ready = sorted(following)
        return stages

    def downstream(self, name: str) -> set[str]:
        """Every component that depends on ``name``, directly or not."""
        _, readers = _graph(self.components)
        found: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for reader in readers.get(current, ()):
                if reader not in found:
                    found.add(reader)
                    frontier.append(reader)
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


def _graph(components: tuple[DagComponent, ...]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """For a valid DAG: how many distinct upstream components each one waits for, and
    who reads each one."""
    waiting = {c.name: 0 for c in components}
    readers: dict[str, list[str]] = {c.name: [] for c in components}
    for component in components:
        for upstream in sorted(component.upstream() & waiting.keys()):
            waiting[component.name] += 1
            readers[upstream].append(component.name)
    return waiting, readers


def parse_job(document: Mapping[str, Any]) -> Job:
    problems: list[Problem] = []
    job_id = _optional_id(document.get("job_id"), "job_id", problems)
    flow_id = _optional_id(document.get("flow_id"), "flow_id", problems)
    dag = _mapping(document.get("dag"), "dag", problems)
    config = _mapping(document.get("config"), "config", problems)
    raw_components = dag.get("components")
    if isinstance(raw_components, list) and len(raw_components) > MAX_COMPONENTS:
        # Refused before anything else looks at them: every later check is then cheap.
        problems.append(
            Problem(
                "dag.components",
                f"{len(raw_components)} components is over the limit of {MAX_COMPONENTS}",
            )
        )
        raise InvalidJob(problems)
    components = _components(raw_components, problems)
    _check_inputs(components, problems)
    _check_cycles(components, problems)
    _check_task_ids(job_id, components, problems)
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
    common = job_params.get("common", {})
    sync_type = str(common.get("sync_type", "poll")) if isinstance(common, Mapping) else "poll"
    if sync_type not in SYNC_TYPES:
        problems.append(
            Problem("config.job_params.common.sync_type", f"{sync_type!r} is not poll or callback")
        )
    _check_param_ids(task_params, "config.task_params", problems)
    if problems:
        raise InvalidJob(problems)
    return Job(
        job_id=job_id,
        flow_id=flow_id,
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


def _id_problem(value: Any) -> str:
    shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
    return (
        f"{shown} is not a valid id (1-{MAX_ID_LENGTH} letters, digits, '.', '_', '-', "
        "starting with a letter or digit, no '..')"
    )


def _check_id(value: Any, where: str, problems: list[Problem]) -> bool:
    if is_valid_id(value):
        return True
    problems.append(Problem(where, _id_problem(value)))
    return False


def _optional_id(value: Any, where: str, problems: list[Problem]) -> str | None:
    """An optional id (absent or empty: ``None``); anything else must be a valid id."""
    if value is None or value == "":
        return None
    return str(value) if _check_id(value, where, problems) else None


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
        component_field = "componentName" if raw.get("componentName") else "module_name"
        component_name = str(raw.get("componentName") or raw.get("module_name") or "")
        if not name:
            problems.append(Problem(f"{where}.name", "is required"))
        elif not _check_id(raw.get("name"), f"{where}.name", problems):
            pass
        elif name in seen:
            problems.append(Problem(f"{where}.name", f"{name!r} is used twice"))
        elif "." in name:
            problems.append(Problem(f"{where}.name", f"{name!r} must not contain '.'"))
        seen.add(name)
        if not component_name:
            problems.append(Problem(f"{where}.componentName", "is required"))
        else:
            _check_id(component_name, f"{where}.{component_field}", problems)
        if raw.get("provider"):
            _check_id(raw.get("provider"), f"{where}.provider", problems)
        if not raw.get("version"):
            problems.append(Problem(f"{where}.version", "is required"))
        else:
            _check_id(raw.get("version"), f"{where}.version", problems)
        inputs = _refs(raw.get("input", raw.get("inputData", [])), f"{where}.input", problems)
        outputs = _refs(raw.get("output", raw.get("outputData", [])), f"{where}.output", problems)
        keys = [o.key for o in outputs]
        first_of: dict[str, int] = {}
        for j, key in enumerate(keys):
            if not _check_id(key, f"{where}.output[{j}].key", problems):
                continue
            if first_of.setdefault(key, j) != j:
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
    """Name one cycle, if the inputs form any. An iterative depth-first search (an
    explicit stack, not recursion), linear in components and inputs, so a DAG of
    thousands of components, cyclic or not, is answered, not a ``RecursionError``."""
    edges = {c.name: sorted(c.upstream() & {d.name for d in components}) for c in components}
    state: dict[str, int] = {}  # 1 = on the path, 2 = done
    for root, upstreams in edges.items():
        if root in state:
            continue
        state[root] = 1
        path = [root]
        stack = [iter(upstreams)]
        while stack:
            upstream = next(stack[-1], None)
            if upstream is None:
                stack.pop()
                state[path.pop()] = 2
                continue
            if upstream == path[-1]:
                continue  # a component reading itself is reported by _check_inputs
            if state.get(upstream) == 1:
                cycle = [*path[path.index(upstream) :], upstream]
                shown = cycle if len(cycle) <= 12 else [*cycle[:6], "...", *cycle[-5:]]
                chain = " <- ".join(shown)
                problems.append(
                    Problem(
                        "dag.components",
                        f"inputs form a cycle of {len(cycle) - 1}: {chain}"
                        if len(cycle) > 12
                        else f"inputs form a cycle: {chain}",
                    )
                )
                return
            if upstream not in state:
                state[upstream] = 1
                path.append(upstream)
                stack.append(iter(edges[upstream]))


def _check_task_ids(
    job_id: str | None, components: list[DagComponent], problems: list[Problem]
) -> None:
    """The task ids an Isthmus scheduler makes (``<job_id>_<component>``) must be ids
    too: with both parts valid, only their length can fail."""
    if job_id is None:
        return
    for i, component in enumerate(components):
        if is_valid_id(component.name) and not is_valid_id(f"{job_id}_{component.name}"):
            problems.append(
                Problem(
                    f"dag.components[{i}].name",
                    f"job_id and component name make a task id over {MAX_ID_LENGTH} characters",
                )
            )


def _roles(value: Any, problems: list[Problem]) -> dict[str, list[str]]:
    if not isinstance(value, Mapping) or not value:
        problems.append(Problem("config.role", "is required: role -> [node ids]"))
        return {}
    roles: dict[str, list[str]] = {}
    for role, nodes in value.items():
        if not is_valid_id(role):
            problems.append(Problem(f"config.role[{str(role)[:60]!r}]", _id_problem(role)))
            continue
        if (
            not isinstance(nodes, list)
            or not nodes
            or not all(isinstance(n, str) and n for n in nodes)
        ):
            problems.append(Problem(f"config.role.{role}", "must be a non-empty list of node ids"))
            continue
        valid = [_check_id(n, f"config.role.{role}[{k}]", problems) for k, n in enumerate(nodes)]
        if all(valid):
            roles[str(role)] = list(nodes)
    return roles


def _check_param_ids(params: Mapping[str, Any], where: str, problems: list[Problem]) -> None:
    """The datasets (``dataset_id``, ``namespace`` + ``name``) and models (``model_id``)
    a task's parameters name become paths and permit subjects: each must be an id."""
    for role, by_party in params.items():
        if not isinstance(by_party, Mapping):
            continue
        groups = [("", by_party)] if role == "common" else list(by_party.items())
        for index_key, per_component in groups:
            if not isinstance(per_component, Mapping):
                continue
            prefix = f"{where}.{role}" + (f".{index_key}" if index_key else "")
            for component, values in per_component.items():
                if not isinstance(values, Mapping):
                    continue
                at = f"{prefix}.{component}"
                if "dataset_id" in values and not is_dataset_id(values["dataset_id"]):
                    problems.append(
                        Problem(
                            f"{at}.dataset_id",
                            f"{_id_problem(values['dataset_id'])}; a dataset id is "
                            "'namespace#name'",
                        )
                    )
                named = [k for k in _ID_PARAMS if values.get(k) not in (None, "")]
                if "name" in named and "namespace" not in named:
                    named.remove("name")  # a parameter called "name", not a dataset's
                for key in named:
                    _check_id(values[key], f"{at}.{key}", problems)


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
