"""One party's task of a job, as the BFIA container contract (digest §2.7).

The scheduler hands a task to a runner as nothing but environment variables, the same
for every runner (process, Ray, Docker, Kubernetes), so that a container from any
vendor runs the same way. Names follow the guide and Kuscia:

* ``config.self_role`` = ``<role>.<index>``; ``config.node_id.*`` / ``config.inst_id.*``
  for every party; ``config.session_id`` = ``session_<job id>`` (the spec's form);
* ``runtime.component.parameter.*``: ``task_params.common.<name>`` overlaid with the
  party's own section; scalars as text, objects and lists as JSON;
* inputs: a DAG input ``<upstream>.<key>`` is that upstream task's output table on this
  party; a component without DAG inputs reads the party's dataset, given in its task
  parameters as ``namespace`` + ``name`` or FATE's ``dataset_id`` (``namespace#name``),
  read by ``components.env.dataset_table``, the same reading the permit gate makes
  (both given and disagreeing is refused);
  DAG inputs and outputs map in order onto the self-description's ``inputData`` and
  ``outputData`` (FATE's rule);
* outputs: namespace ``<job id>-<role>-<index>``, name ``<task id>-<key>`` (the guide's
  recommendation, Kuscia's practice).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from isthmus.components.env import DATASET_KEYS, dataset_table
from isthmus.components.spec import ComponentSpec, as_text
from isthmus.scheduler.jobdoc import session_id
from isthmus.wire.dag import Job
from isthmus.wire.errors import ValidationFailed


@dataclass(frozen=True)
class Placement:
    """Where a party's task runs and what it may reach."""

    storage_url: str
    transport_address: str
    callback_url: str | None
    token: str
    log_path: str
    inst_ids: dict[str, str] = field(default_factory=dict)  # node id -> institution id


def task_id(job: Job, component: str) -> str:
    """The id an Isthmus scheduler gives a task: one per job and DAG component, so a
    retried ``task/start`` names the same task. Other schedulers choose their own
    (FATE: a UUID); participants use whatever ``task/start`` carries."""
    return f"{job.job_id}_{component}"


def output_table(job: Job, task: str, role: str, index: int, key: str) -> dict[str, str]:
    """The table of output ``key`` of task id ``task`` for party ``role.index``."""
    return {"namespace": f"{job.job_id}-{role}-{index}", "name": f"{task}-{key}"}


def container_env(
    job: Job,
    component: str,
    role: str,
    index: int,
    spec: ComponentSpec,
    where: Placement,
    task_ids: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of ``component``'s task for party ``role.index``. ``task_ids``
    maps DAG component names to their task ids (this one and its upstream); names it
    lacks get ``task_id(job, name)``."""
    if job.job_id is None:
        raise ValidationFailed("a job needs its job_id before tasks can be placed")
    ids = dict(task_ids or {})

    def id_of(name: str) -> str:
        return ids.get(name) or task_id(job, name)

    dag = job.component(component)
    this_task = id_of(component)
    env: dict[str, str] = {
        "system.storage": where.storage_url,
        "system.transport": where.transport_address,
        "config.self_role": f"{role}.{index}",
        "config.task_id": this_task,
        "config.session_id": session_id(str(job.job_id)),
        "config.trace_id": f"trace_{this_task}",
        "config.token": where.token,
        "config.log.path": where.log_path,
        "runtime.component.name": dag.component_name,
    }
    if where.callback_url:
        env["system.callback"] = where.callback_url
    for party_role, party_index, node in job.parties():
        env[f"config.node_id.{party_role}.{party_index}"] = node
        env[f"config.inst_id.{party_role}.{party_index}"] = where.inst_ids.get(node, node)
    params = job.task_parameters(component, role, index)
    params_field = f"config.task_params.{role}.{index}.{component}"
    dataset = dataset_table(params, params_field)  # the gate's reading too: one resolution
    for key in DATASET_KEYS:
        params.pop(key, None)
    for name, value in params.items():
        env[f"runtime.component.parameter.{name}"] = as_text(value)
    slots = [s.name for s in spec.inputs]
    if dag.inputs:
        if len(dag.inputs) > len(slots):
            raise ValidationFailed(
                f"{component}: {len(dag.inputs)} inputs for {spec.name}'s {len(slots)} slots"
            )
        for slot, ref in zip(slots, dag.inputs, strict=False):
            upstream, _, key = ref.key.partition(".")
            table = output_table(job, id_of(upstream), role, index, key)
            env[f"runtime.component.input.{slot}"] = json.dumps(table)
    elif slots:
        if dataset is None:
            raise ValidationFailed(
                f"{params_field}: the party's task parameters name no dataset "
                "(namespace + name, or dataset_id 'namespace#name')"
            )
        table = {"namespace": dataset.namespace, "name": dataset.name}
        env[f"runtime.component.input.{slots[0]}"] = json.dumps(table)
    out_slots = [s.name for s in spec.outputs]
    for slot, ref in zip(out_slots, dag.outputs, strict=False):
        table = output_table(job, this_task, role, index, ref.key)
        env[f"runtime.component.output.{slot}"] = json.dumps(table)
    return env
