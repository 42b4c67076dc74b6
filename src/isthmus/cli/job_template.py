"""``isthmus job template``: a commented example job for components registered here.

The node's job format is JSON, which has no comments, so the explanations go in one
top-level ``_comment`` array of lines: the node reads only ``job_id``, ``flow_id``,
``dag`` and ``config`` of a submitted document, so ``_comment`` is dropped at submission
and never reaches a partner. Values only the operator knows (a partner's node id, a
table's name, a required parameter without a default) are ``<fill: …>`` placeholders,
which the node refuses by field name if one is left in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from isthmus.cli.common import Home, call, err, fail, out
from isthmus.components.spec import ComponentSpec, from_self_description
from isthmus.wire.paths import ADMIN_COMPONENTS, ADMIN_NODE

#: Used when no --component is given: the smallest built-in, a one-party data step.
DEFAULT_COMPONENT = "column_select"
#: The roles a template gives parties to, in this order, when the components allow them.
TEMPLATE_ROLES = ("guest", "host")


def job_template(
    home: Home,
    components: Annotated[
        list[str] | None,
        typer.Option(
            "--component", "-c", help="a registered componentName (repeat: tasks run in order)"
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """Write an example job (JSON, explained in its ``_comment``) chaining the named
    registered components: fill the ``<fill: …>`` values and ``isthmus job submit`` it."""
    names = components or [DEFAULT_COMPONENT]
    specs = [_newest_enabled(home, name) for name in names]
    node_id = str(call(home, "GET", ADMIN_NODE)["node_id"])
    document = build_template(specs, node_id)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        out.print(text, highlight=False, markup=False, end="")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc}", 2) from exc
    err.print(f"job template written to {output}", highlight=False)


def _newest_enabled(home: Path, name: str) -> ComponentSpec:
    rows = [
        r
        for r in call(home, "GET", ADMIN_COMPONENTS, name=name, describe=True)
        if r["state"] == "ENABLED"
    ]
    if not rows:
        raise fail(
            f"--component {name}: no ENABLED component of that name is registered here "
            "('isthmus component list' shows them)"
        )
    row = max(rows, key=lambda r: (r.get("registeredAt") or 0, r["version"]))
    return from_self_description(row["component_info"])


def build_template(specs: list[ComponentSpec], node_id: str) -> dict[str, Any]:
    """The example job: one task per spec, each reading the previous task's first
    output (the first reads each party's own table), this node the guest and initiator."""
    roles = [r for r in TEMPLATE_ROLES if all(r in s.roles for s in specs)]
    if not roles:
        raise fail(
            "these components share neither the guest nor the host role: "
            "no job can run all of them",
            2,
        )
    tasks = [f"{spec.name}_{i}" for i, spec in enumerate(specs)]
    parties = {"guest": [node_id], "host": ["<fill: the partner's node id>"]}
    first = tasks[0]
    return {
        "_comment": _comments(specs, tasks, roles),
        "dag": {
            "version": "2.0",
            "components": [_task(specs, tasks, i) for i in range(len(specs))],
        },
        "config": {
            "version": "2.0",
            "initiator": {"role": "guest", "node_id": node_id},
            "role": {role: parties[role] for role in roles},
            "job_params": {"common": {"sync_type": "poll"}},
            "task_params": {
                "common": {task: _values(spec) for task, spec in zip(tasks, specs, strict=True)},
                **{
                    role: {
                        "0": {
                            first: {
                                "namespace": "<fill: the folder of the table under data/>",
                                "name": f"<fill: the {role}'s table, e.g. accounts.csv>",
                            }
                        }
                    }
                    for role in roles
                },
            },
        },
    }


def _task(specs: list[ComponentSpec], tasks: list[str], index: int) -> dict[str, Any]:
    spec = specs[index]
    inputs = []
    if index and spec.inputs and specs[index - 1].outputs:
        handed_on = specs[index - 1].outputs[0].name
        inputs = [{"key": f"{tasks[index - 1]}.{handed_on}", "type": spec.inputs[0].category}]
    return {
        "name": tasks[index],
        "componentName": spec.name,
        "provider": spec.provider,
        "version": spec.version,
        "input": inputs,
        "output": [{"key": o.name, "type": o.category} for o in spec.outputs],
    }


def _values(spec: ComponentSpec) -> dict[str, Any]:
    """Each parameter with a default (typed), or a placeholder if it is required;
    optional ones without a default are left out (the comments list them)."""
    values: dict[str, Any] = {}
    for param in spec.params:
        if param.default is not None:
            values[param.name] = param.value_of(param.default)
        elif not param.optional:
            hint = f" ({param.validator})" if param.validator else ""
            values[param.name] = f"<fill: {param.description or param.name}, {param.type}{hint}>"
    return values


def _comments(specs: list[ComponentSpec], tasks: list[str], roles: list[str]) -> list[str]:
    lines = [
        "An example job. Replace every <fill: ...> value, then: isthmus job submit FILE.",
        "This _comment is not part of the job: the node drops it at submission.",
        "dag.components: the tasks, each a registered component; a task's input names",
        "  the task and output it reads ('<task>.<output>'); the first task reads each",
        "  party's own table, named in config.task_params.<role>.0.",
        "config.initiator: this node, which submits and schedules the job.",
        f"config.role: the parties, by role ({', '.join(roles)}); a partner's table must",
        "  be offered to this node first (docs/operator-guide.md, approvals).",
        "flow_id (optional, beside dag): a name grouping related jobs.",
        "config.job_params.common.sync_type: poll (the spec's default) or callback.",
        "config.task_params.common.<task>: parameters for every party (a party's own",
        "  section, task_params.<role>.<index>.<task>, overrides them). Parameters:",
    ]
    for task, spec in zip(tasks, specs, strict=True):
        for p in spec.params:
            required = "required" if not p.optional and p.default is None else "optional"
            extra = f", {p.validator}" if p.validator else ""
            if p.choices is not None:
                extra += f", one of {list(p.choices)}"
            lines.append(f"  {task}.{p.name} ({p.type}, {required}{extra}): {p.description}")
    return lines
