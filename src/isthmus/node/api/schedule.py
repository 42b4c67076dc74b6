"""The scheduling plane's routes (digest §2.2).

East-west (``east_west``, ``/v1/interconn/schedule/...``, signed, approved contract):
what a scheduler calls on participants and participants on their scheduler. Bodies are
read leniently (FATE adds ``old_job_id``; ``status_all`` comes as GET with a query, GET
with a JSON body, or POST), and Kuscia's ``task/stop`` is accepted. The participant's
calls are the ones ``scheduler.calls.PARTY_CALLS`` lists, answered by the same code the
local channel uses, so the wire and the in-process path cannot drift.

North-south (``north_south``, admin token): what an upper layer or the CLI calls on
its own node (``/v1/platform/schedule/...``: submit, stop, status, list, logs, and the
failure summary) and the admin's job views (``/admin/v1/jobs``), among them a job's
outputs on this node with a preview of their rows (operator-only: ``node.rbac``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from isthmus.node.api.deps import Actor, ApprovedPeer, Ctx, authorised
from isthmus.node.http import request_fields
from isthmus.scheduler.calls import PARTY_CALLS, answer, optional_id, required_ids
from isthmus.scheduler.outputs import DEFAULT_ROWS, MAX_ROWS, job_outputs
from isthmus.wire import headers as h
from isthmus.wire import paths
from isthmus.wire.envelope import ok
from isthmus.wire.ids import check_id
from isthmus.wire.mprac import parse_token_set

east_west = APIRouter()
north_south = APIRouter(dependencies=[Depends(authorised)])


# --- east-west ---------------------------------------------------------------------------


async def party_call(request: Request, ctx: Ctx, caller: ApprovedPeer) -> Any:
    """One of the participant's calls: which one is the route's path."""
    headers = {
        h.MPRAC_TOKEN_SET: h.read(request.headers, h.MPRAC_TOKEN_SET) or "",
        h.INITIATOR_SIGN: request.headers.get(h.INITIATOR_SIGN, ""),
    }
    fields = await request_fields(request)
    path = request.scope["route"].path
    return ok(await answer(ctx.jobs.participant, caller.node_id, path, fields, headers))


for _call in PARTY_CALLS.values():  # the participant's calls, as the local channel's
    east_west.add_api_route(_call.path, party_call, methods=[_call.method], name=_call.name)


@east_west.post(paths.JOB_CREATE_ALL)
async def create_all(request: Request, ctx: Ctx, caller: ApprovedPeer) -> Any:
    fields = await request_fields(request)
    token_set = h.read(request.headers, h.MPRAC_TOKEN_SET) or ""
    parse_token_set(token_set)  # refuse a malformed set before anything is recorded
    statement = request.headers.get(h.INITIATOR_SIGN, "")
    job_id = await ctx.jobs.coordinator.create_all(caller.node_id, fields, token_set, statement)
    return ok({"job_id": job_id})


@east_west.post(paths.JOB_STOP_ALL)
async def stop_all(request: Request, ctx: Ctx, caller: ApprovedPeer) -> Any:
    fields = await request_fields(request)
    (job_id,) = required_ids(fields, "job_id")
    await ctx.jobs.coordinator.stop_all(caller.node_id, job_id, optional_id(fields, "task_name"))
    return ok()


async def status_all(request: Request, ctx: Ctx, caller: ApprovedPeer) -> Any:
    (job_id,) = required_ids(await request_fields(request), "job_id")
    return ok(await run_in_threadpool(ctx.jobs.coordinator.status_all, job_id, caller.node_id))


for _method in ("get", "post"):
    getattr(east_west, _method)(paths.JOB_STATUS_ALL, operation_id=f"status_all_{_method}")(
        status_all
    )


@east_west.post(paths.TASK_CALLBACK)
async def callback(request: Request, ctx: Ctx, caller: ApprovedPeer) -> Any:
    fields = await request_fields(request)
    task_id, status = required_ids(fields, "task_id", "status")
    optional_id(fields, "role")
    await ctx.jobs.coordinator.receive_report(
        caller.node_id,
        task_id,
        str(fields.get("role") or ""),
        status,
        fields.get("reason"),
        fields.get("log_tail"),
    )
    return ok()


# --- north-south -------------------------------------------------------------------------


@north_south.post(paths.PLATFORM_JOB_CREATE_ALL)
async def platform_create_all(request: Request, ctx: Ctx, actor: Actor) -> Any:
    fields = await request_fields(request)
    return ok({"job_id": await ctx.jobs.submit(fields, actor=actor)})


@north_south.post(paths.PLATFORM_JOB_STOP_ALL)
async def platform_stop_all(request: Request, ctx: Ctx) -> Any:
    fields = await request_fields(request)
    (job_id,) = required_ids(fields, "job_id")
    await ctx.jobs.stop(job_id, optional_id(fields, "task_name"))
    return ok()


@north_south.post(paths.PLATFORM_JOB_STOP_TASK)
async def platform_stop_task(request: Request, ctx: Ctx) -> Any:
    job_id, task_name = required_ids(await request_fields(request), "job_id", "task_name")
    await ctx.jobs.stop(job_id, task_name)
    return ok()


async def platform_status_all(request: Request, ctx: Ctx) -> Any:
    (job_id,) = required_ids(await request_fields(request), "job_id")
    return ok(await ctx.jobs.status(job_id))


async def platform_why(request: Request, ctx: Ctx) -> Any:
    (job_id,) = required_ids(await request_fields(request), "job_id")
    return ok(await ctx.jobs.why(job_id))


for _method in ("get", "post"):
    _route = getattr(north_south, _method)
    _route(paths.PLATFORM_JOB_STATUS_ALL, operation_id=f"platform_status_{_method}")(
        platform_status_all
    )
    _route(paths.PLATFORM_JOB_WHY, operation_id=f"platform_why_{_method}")(platform_why)


@north_south.get(paths.PLATFORM_JOB_LIST)
async def job_list(ctx: Ctx, flow_id: str | None = Query(default=None, max_length=128)) -> Any:
    return ok({"job_list": await run_in_threadpool(ctx.jobs.job_list, flow_id)})


@north_south.get(paths.PLATFORM_TASK_LOG_LINES)
async def log_lines(
    ctx: Ctx,
    task_id: str = Query(min_length=1, max_length=128),
    log_level: str = Query(default="info", max_length=16),
) -> Any:
    lines = await run_in_threadpool(
        ctx.jobs.participant.views.read_log, check_id(task_id, "task_id"), log_level
    )
    return ok({"num": len(lines)})


@north_south.get(paths.PLATFORM_TASK_LOG)
async def get_log(
    ctx: Ctx,
    task_id: str = Query(min_length=1, max_length=128),
    log_level: str = Query(default="info", max_length=16),
    start: int = Query(default=0, ge=0),
    length: int | None = Query(default=None, ge=0, le=100_000),
) -> Any:
    lines = await run_in_threadpool(
        ctx.jobs.participant.views.read_log, check_id(task_id, "task_id"), log_level
    )
    chosen = lines[start:] if length is None else lines[start : start + length]
    return ok("\n".join(chosen))


@north_south.get(paths.ADMIN_JOBS)
async def list_jobs(ctx: Ctx, flow_id: str | None = Query(default=None, max_length=128)) -> Any:
    return ok(await run_in_threadpool(ctx.jobs.participant.views.jobs, flow_id))


@north_south.get(paths.ADMIN_JOB_TASKS)
async def job_tasks(job_id: str, ctx: Ctx) -> Any:
    return ok(
        await run_in_threadpool(ctx.jobs.participant.views.local_tasks, check_id(job_id, "job_id"))
    )


@north_south.get(paths.ADMIN_JOB_OUTPUTS)
async def job_outputs_route(
    job_id: str,
    ctx: Ctx,
    task: str | None = Query(default=None, max_length=128),
    rows: int = Query(default=DEFAULT_ROWS, ge=1, le=MAX_ROWS),
) -> Any:
    """This party's outputs of the job's tasks (of one task, by name or id), each with
    the first ``rows`` rows of its table or its report's JSON. Never logged."""
    participant = ctx.jobs.participant
    return ok(
        await run_in_threadpool(
            job_outputs,
            participant.views,
            participant.settings.storage_url,
            check_id(job_id, "job_id"),
            task and check_id(task, "task"),
            rows,
        )
    )
