"""Scheduling-plane checks (digest §2.2-§2.5): the kit plays the scheduler (and
initiator, role ``guest``) of a one-component job in which the target is the ``host``
participant, and drives it through the east-west control API: ``job/create``,
``job/start``, ``task/start``, the status by ``task/poll`` (poll mode) or by the target's
``task/callback`` to the kit's listener (callback mode), and ``job/stop``. Statuses must
be the spec's (§2.3). The job reads a dataset the target publishes, with the outputs
its ``component/query`` describes (§2.6): the poll, callback and stop checks judge the
protocol whatever the task's end, ``sched.job.success`` demands SUCCESS (a target whose
listed component cannot run on its own published data does not schedule).

DAG&conf refusals: a cyclic DAG and an unknown component are refused in the envelope
at ``job/create``, and nothing is created (a ``job/start`` of that id is refused too);
``task/poll`` of a task never started is refused.

The component is one the target itself lists (``component/list``), so the checks need
no knowledge of its catalogue. Every job id is the run's own and every job is stopped.
"""

from __future__ import annotations

import asyncio
from typing import Any

from isthmus.conformance.checks.common import contract_id, refusal, success
from isthmus.conformance.checks.management import public_datasets
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.registry import check
from isthmus.wire import paths

TASK_STATUSES = frozenset({"PENDING", "READY", "RUNNING", "SUCCESS", "FAILED"})
TASK_DONE = frozenset({"SUCCESS", "FAILED"})
TASK = "task_0"
#: Preferred when the target lists it: it starts and ends fast (Isthmus' builtin).
PREFERRED = "summary_stats"
WAIT_S = 40.0


async def component(ctx: CheckContext) -> dict[str, Any]:
    reply = await ctx.http.signed(
        "GET",
        paths.COMPONENT_LIST,
        params={"contract_id": contract_id(ctx), "page_num": "1", "page_size": "100"},
        label="component/list",
    )
    data = success(ctx, reply, "component/list")
    records = data.get("records") if isinstance(data, dict) else None
    ctx.expect(isinstance(records, list), "component/list: no records (§1.4)")
    assert isinstance(records, list)
    usable = [r for r in records if isinstance(r, dict) and r.get("code")]
    if not usable:
        ctx.not_applicable("the target lists no component the kit could schedule")
    return next((r for r in usable if r.get("code") == PREFERRED), usable[0])


def _component_entry(name: str, comp: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "componentName": comp.get("code"),
        "provider": comp.get("developer") or comp.get("provider") or "",
        "version": comp.get("version") or "",
        "input": [{"type": "dataset", "key": key} for key in inputs],
        "output": [{"type": "dataset", "key": "data"}],
    }


def _dataset_params(dataset_id: str) -> dict[str, str]:
    """A public dataset as a party's task parameter: ``namespace`` + ``name`` (the guide,
    Kuscia) for a FATE-style ``namespace#name`` id, else FATE's ``dataset_id``."""
    if dataset_id.count("#") == 1:
        namespace, name = dataset_id.split("#")
        return {"namespace": namespace, "name": name}
    return {"dataset_id": dataset_id}


def _document(
    ctx: CheckContext,
    job_id: str,
    components: list[dict[str, Any]],
    sync_type: str = "poll",
    dataset_id: str | None = None,
) -> dict[str, Any]:
    kit, target = ctx.kit.node_id, ctx.target.node_id
    host: dict[str, Any] = {}
    if dataset_id is not None:
        host = {"0": {c["name"]: _dataset_params(dataset_id) for c in components}}
    return {
        "job_id": job_id,
        "flow_id": "",
        "dag": {"version": "2.0", "components": components},
        "config": {
            "version": "2.0",
            "initiator": {"role": "guest", "node_id": kit},
            "role": {"guest": [kit], "host": [target]},
            "job_params": {"common": {"sync_type": sync_type}},
            "task_params": {"common": {}, "host": host},
        },
    }


async def create(ctx: CheckContext, document: dict[str, Any], label: str) -> Any:
    return await ctx.http.signed("POST", paths.JOB_CREATE, json=document, label=label)


def stop_later(ctx: CheckContext, job_id: str) -> None:
    async def stop() -> None:
        await ctx.http.signed(
            "POST", paths.JOB_STOP, json={"job_id": job_id}, label="cleanup: job/stop"
        )

    ctx.cleanup(stop)


async def outputs_of(ctx: CheckContext, comp: dict[str, Any]) -> list[dict[str, str]]:
    """The output slots ``component/query`` describes (§2.6 ``outputData``) as DAG
    outputs: a component that must write a slot fails when the DAG leaves it out."""
    params = {
        "contract_id": contract_id(ctx),
        "code": str(comp.get("code")),
        "version": str(comp.get("version") or ""),
    }
    reply = await ctx.http.signed(
        "GET", paths.COMPONENT_QUERY, params=params, label="component/query"
    )
    data = success(ctx, reply, "component/query")
    described = data.get("outputs") if isinstance(data, dict) else None
    return [
        {"type": str(o.get("category") or "dataset"), "key": str(o["name"])}
        for o in described or []
        if isinstance(o, dict) and o.get("name")
    ]


async def job_document(
    ctx: CheckContext, comp: dict[str, Any], dataset_id: str, sync_type: str = "poll"
) -> tuple[str, dict[str, Any]]:
    """A fresh job id and its one-component job: ``comp`` on the target's dataset."""
    job_id = ctx.ids.new("job")
    entry = {**_component_entry(TASK, comp, []), "output": await outputs_of(ctx, comp)}
    return job_id, _document(ctx, job_id, [entry], sync_type, dataset_id)


async def _started_job(ctx: CheckContext, sync_type: str) -> tuple[str, str]:
    comp = await component(ctx)
    records = await public_datasets(ctx)
    if not records:
        ctx.not_applicable("the target publishes no dataset for the kit's job to read")
    dataset_id = str(records[0].get("dataset_id"))
    task_id = ctx.ids.new("task")
    job_id, document = await job_document(ctx, comp, dataset_id, sync_type)
    success(ctx, await create(ctx, document, "job/create"), "job/create")
    stop_later(ctx, job_id)
    started = await ctx.http.signed(
        "POST", paths.JOB_START, json={"job_id": job_id}, label="job/start"
    )
    success(ctx, started, "job/start")
    body = {"task_id": task_id, "job_id": job_id, "task_name": TASK}
    task = await ctx.http.signed("POST", paths.TASK_START, json=body, label="task/start")
    success(ctx, task, "task/start")
    ctx.note(f"{comp.get('code')} {comp.get('version', '')}: created, started".replace("  ", " "))
    return job_id, task_id


async def _poll(ctx: CheckContext, task_id: str) -> str:
    reply = await ctx.http.signed(
        "POST", paths.TASK_POLL, json={"task_id": task_id, "role": "host"}, label="task/poll"
    )
    data = success(ctx, reply, "task/poll")
    status = data.get("status") if isinstance(data, dict) else None
    ctx.expect(
        status in TASK_STATUSES,
        f"task/poll: status {status!r} is not one of the spec's {sorted(TASK_STATUSES)} (§2.3)",
    )
    return str(status)


@check(
    "sched.job.poll",
    title="job create/start, task start, task/poll to an end, job/stop (poll mode)",
    part=Part.SCHEDULING,
    section="§2.2, §2.3, §2.4",
    mutates=True,
    plan=(
        "GET component/list and dataset/pub/list: a component and a public dataset of the "
        "target's (the kit's job reads it; the target's operator must let the kit use it)",
        f"POST {paths.JOB_CREATE} (kit = scheduler and guest, target = host; sync_type poll)",
        f"POST {paths.JOB_START}, {paths.TASK_START}: expect code 0 each",
        f"POST {paths.TASK_POLL} every 0.5 s: spec statuses only, until SUCCESS or FAILED",
        f"POST {paths.JOB_STOP}: expect code 0",
    ),
)
async def job_poll(ctx: CheckContext) -> None:
    job_id, task_id = await _started_job(ctx, "poll")
    seen = await _poll_to_end(ctx, task_id)
    stopped = await ctx.http.signed(
        "POST", paths.JOB_STOP, json={"job_id": job_id}, label="job/stop"
    )
    success(ctx, stopped, "job/stop")
    ctx.note(f"polled {' -> '.join(seen)}; job stopped")


async def _poll_to_end(ctx: CheckContext, task_id: str) -> list[str]:
    """``task/poll`` every 0.5 s until SUCCESS or FAILED: the statuses seen, in order."""
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not seen or seen[-1] not in TASK_DONE:
        ctx.expect(loop.time() < deadline, f"the task did not end in {WAIT_S:g} s: {seen}")
        status = await _poll(ctx, task_id)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status not in TASK_DONE:
            await asyncio.sleep(0.5)
    return seen


@check(
    "sched.job.success",
    title="A job on the target's published dataset runs to SUCCESS",
    part=Part.SCHEDULING,
    section="§2.2, §2.3, §2.4, §2.6",
    mutates=True,
    plan=(
        "component/list (summary_stats preferred), component/query for its outputs, "
        "dataset/pub/list for the dataset the target's operator lets the kit's jobs read",
        f"POST {paths.JOB_CREATE}, {paths.JOB_START}, {paths.TASK_START} (poll mode)",
        f"POST {paths.TASK_POLL} until it ends: expect SUCCESS, spec statuses only (§2.3)",
        f"POST {paths.JOB_STOP}",
    ),
)
async def job_success(ctx: CheckContext) -> None:
    job_id, task_id = await _started_job(ctx, "poll")
    seen = await _poll_to_end(ctx, task_id)
    ctx.expect(
        seen[-1] == "SUCCESS",
        f"the task ended {seen[-1]} ({' -> '.join(seen)}): a component the target lists, on "
        "a dataset it publishes, with the outputs component/query describes, must succeed",
    )
    stopped = await ctx.http.signed(
        "POST", paths.JOB_STOP, json={"job_id": job_id}, label="job/stop"
    )
    success(ctx, stopped, "job/stop")
    ctx.note(f"polled {' -> '.join(seen)}")


@check(
    "sched.task.poll-unknown",
    title="task/poll of a task the target never started is refused",
    part=Part.SCHEDULING,
    section="§2.2",
    plan=(
        f"POST {paths.TASK_POLL} {{task_id: <the kit's, never started>, role: host}}",
        "expect: refused in the envelope (no status for a task that does not exist)",
    ),
)
async def task_poll_unknown(ctx: CheckContext) -> None:
    body = {"task_id": ctx.ids.new("task"), "role": "host"}
    reply = await ctx.http.signed("POST", paths.TASK_POLL, json=body, label="task/poll unknown")
    code = refusal(ctx, reply, "task/poll of an unknown task")
    ctx.note(f"task/poll of an unknown task: refused, code {code}")


@check(
    "sched.job.callback",
    title="In callback mode the target reports the task's end by task/callback",
    part=Part.SCHEDULING,
    section="§2.2, §2.3, §2.4",
    mutates=True,
    plan=(
        "as sched.job.poll with sync_type callback, up to task/start",
        f"wait for POST {paths.TASK_CALLBACK} on the kit's listener: {{task_id, status, role}}, "
        "signed; until SUCCESS or FAILED",
        f"POST {paths.JOB_STOP}",
    ),
)
async def job_callback(ctx: CheckContext) -> None:
    if not ctx.kit.listener_address:
        ctx.not_applicable("the kit runs without a listener the target can call")
    job_id, task_id = await _started_job(ctx, "callback")
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not seen or seen[-1] not in TASK_DONE:
        got = await ctx.listener.expect(paths.TASK_CALLBACK, max(0.1, deadline - loop.time()))
        body = got.json if isinstance(got.json, dict) else {}
        if body.get("task_id") != task_id:
            continue  # another run's late callback
        status = str(body.get("status", "")).upper()
        ctx.expect(status in TASK_STATUSES, f"task/callback: status {status!r} (§2.3)")
        ctx.expect(got.signature_valid is not False, "task/callback: signature does not verify")
        seen.append(status)
    stopped = await ctx.http.signed(
        "POST", paths.JOB_STOP, json={"job_id": job_id}, label="job/stop"
    )
    success(ctx, stopped, "job/stop")
    ctx.note(f"callbacks {' -> '.join(seen)}; job stopped")


@check(
    "sched.job.stop",
    title="job/stop ends a started job; its task is then FAILED or SUCCESS",
    part=Part.SCHEDULING,
    section="§2.2, §2.3",
    mutates=True,
    plan=(
        "job/create, job/start, task/start as in sched.job.poll",
        f"POST {paths.JOB_STOP} at once: expect code 0",
        f"POST {paths.TASK_POLL}: expect a terminal status (a stopped task is FAILED)",
    ),
)
async def job_stop(ctx: CheckContext) -> None:
    job_id, task_id = await _started_job(ctx, "poll")
    stopped = await ctx.http.signed(
        "POST", paths.JOB_STOP, json={"job_id": job_id}, label="job/stop"
    )
    success(ctx, stopped, "job/stop")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    status = await _poll(ctx, task_id)
    while status not in TASK_DONE:
        ctx.expect(loop.time() < deadline, f"a stopped job's task is still {status}")
        await asyncio.sleep(0.5)
        status = await _poll(ctx, task_id)
    ctx.note(f"after job/stop the task is {status}")


async def _refused_job(ctx: CheckContext, components: list[dict[str, Any]], what: str) -> None:
    job_id = ctx.ids.new("job")
    reply = await create(ctx, _document(ctx, job_id, components), f"job/create ({what})")
    code = refusal(ctx, reply, f"job/create with {what}")
    stop_later(ctx, job_id)
    start = await ctx.http.signed(
        "POST", paths.JOB_START, json={"job_id": job_id}, label="job/start of the refused job"
    )
    later = refusal(ctx, start, "job/start of a job whose create was refused (it exists)")
    msg = (reply.json or {}).get("msg", "") if isinstance(reply.json, dict) else ""
    ctx.note(f"{what}: refused ({code}: {str(msg)[:120]}); job/start then refused ({later})")


@check(
    "sched.dag.cycle",
    title="A cyclic DAG is refused at job/create and nothing is created",
    part=Part.SCHEDULING,
    section="§2.5",
    plan=(
        f"POST {paths.JOB_CREATE} whose DAG is a_0 <- b_0 <- a_0",
        "expect refused in the envelope",
        f"POST {paths.JOB_START} of that job id: expect refused (nothing was created)",
    ),
)
async def dag_cycle(ctx: CheckContext) -> None:
    comp = await component(ctx)
    components = [
        _component_entry("a_0", comp, ["b_0.data"]),
        _component_entry("b_0", comp, ["a_0.data"]),
    ]
    await _refused_job(ctx, components, "a cyclic DAG")


@check(
    "sched.dag.unknown-component",
    title="A DAG naming an unknown component is refused and nothing is created",
    part=Part.SCHEDULING,
    section="§2.5, §2.6",
    plan=(
        f"POST {paths.JOB_CREATE} with componentName 'cfk-no-such-component'",
        "expect refused in the envelope",
        f"POST {paths.JOB_START}: expect refused",
    ),
)
async def dag_unknown_component(ctx: CheckContext) -> None:
    comp = {"code": "cfk_no_such_component", "developer": "nobody", "version": "0.0.1"}
    await _refused_job(ctx, [_component_entry(TASK, comp, [])], "an unknown component")
