"""The scheduling plane's HTTP faces (digest §2.2).

East-west (``/v1/interconn/schedule/...``, signed, on the interconn listener): what a
scheduler calls on participants and participants on their scheduler. Bodies are read
leniently (FATE adds ``old_job_id``; ``status_all`` comes as GET with a query, GET with
a JSON body, or POST), and Kuscia's ``task/stop`` is accepted.

North-south (``/v1/platform/schedule/...``, admin token, on the admin listener): what
an upper layer or the CLI calls on its own node: submit, stop, status, list, logs, and
the failure summary.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from isthmus.node.auth import Caller
from isthmus.node.context import NodeContext
from isthmus.node.http import request_fields
from isthmus.node.rbac import actor_of
from isthmus.scheduler.calls import PARTY_CALLS, PartyCall, answer, optional_id, required_ids
from isthmus.wire import headers as h
from isthmus.wire import paths
from isthmus.wire.envelope import ok
from isthmus.wire.ids import check_id
from isthmus.wire.mprac import parse_token_set


def schedule_router(ctx: NodeContext, require_peer: Any) -> APIRouter:
    router = APIRouter()
    jobs = ctx.jobs

    def party_route(call: PartyCall) -> Any:
        async def handle(request: Request, caller: Caller = Depends(require_peer)) -> Any:
            headers = {
                h.MPRAC_TOKEN_SET: h.read(request.headers, h.MPRAC_TOKEN_SET) or "",
                h.INITIATOR_SIGN: request.headers.get(h.INITIATOR_SIGN, ""),
            }
            fields = await request_fields(request)
            return ok(await answer(jobs.participant, caller.node_id, call.path, fields, headers))

        return handle

    for call in PARTY_CALLS.values():  # the participant's calls, as the local channel's
        router.add_api_route(call.path, party_route(call), methods=[call.method], name=call.name)

    @router.post(paths.JOB_CREATE_ALL)
    async def create_all(request: Request, caller: Caller = Depends(require_peer)) -> Any:
        fields = await request_fields(request)
        token_set = h.read(request.headers, h.MPRAC_TOKEN_SET) or ""
        parse_token_set(token_set)  # refuse a malformed set before anything is recorded
        statement = request.headers.get(h.INITIATOR_SIGN, "")
        job_id = await jobs.coordinator.create_all(caller.node_id, fields, token_set, statement)
        return ok({"job_id": job_id})

    @router.post(paths.JOB_STOP_ALL)
    async def stop_all(request: Request, caller: Caller = Depends(require_peer)) -> Any:
        fields = await request_fields(request)
        (job_id,) = required_ids(fields, "job_id")
        await jobs.coordinator.stop_all(caller.node_id, job_id, optional_id(fields, "task_name"))
        return ok()

    async def status_all(request: Request, caller: Caller = Depends(require_peer)) -> Any:
        (job_id,) = required_ids(await request_fields(request), "job_id")
        return ok(await run_in_threadpool(jobs.coordinator.status_all, job_id, caller.node_id))

    for method in ("get", "post"):
        getattr(router, method)(paths.JOB_STATUS_ALL, operation_id=f"status_all_{method}")(
            status_all
        )

    @router.post(paths.TASK_CALLBACK)
    async def callback(request: Request, caller: Caller = Depends(require_peer)) -> Any:
        fields = await request_fields(request)
        task_id, status = required_ids(fields, "task_id", "status")
        optional_id(fields, "role")
        await jobs.coordinator.receive_report(
            caller.node_id,
            task_id,
            str(fields.get("role") or ""),
            status,
            fields.get("reason"),
            fields.get("log_tail"),
        )
        return ok()

    return router


def platform_router(ctx: NodeContext, authorised: Any) -> APIRouter:
    router = APIRouter(dependencies=[Depends(authorised)])
    jobs = ctx.jobs

    @router.post(paths.PLATFORM_JOB_CREATE_ALL)
    async def create_all(request: Request) -> Any:
        fields = await request_fields(request)
        return ok({"job_id": await jobs.submit(fields, actor=actor_of(request))})

    @router.post(paths.PLATFORM_JOB_STOP_ALL)
    async def stop_all(request: Request) -> Any:
        fields = await request_fields(request)
        (job_id,) = required_ids(fields, "job_id")
        await jobs.stop(job_id, optional_id(fields, "task_name"))
        return ok()

    @router.post(paths.PLATFORM_JOB_STOP_TASK)
    async def stop_task(request: Request) -> Any:
        job_id, task_name = required_ids(await request_fields(request), "job_id", "task_name")
        await jobs.stop(job_id, task_name)
        return ok()

    async def status_all(request: Request) -> Any:
        (job_id,) = required_ids(await request_fields(request), "job_id")
        return ok(await jobs.status(job_id))

    async def why(request: Request) -> Any:
        (job_id,) = required_ids(await request_fields(request), "job_id")
        return ok(await jobs.why(job_id))

    for method in ("get", "post"):
        route = getattr(router, method)
        route(paths.PLATFORM_JOB_STATUS_ALL, operation_id=f"platform_status_{method}")(status_all)
        route(paths.PLATFORM_JOB_WHY, operation_id=f"platform_why_{method}")(why)

    @router.get(paths.PLATFORM_JOB_LIST)
    async def job_list(flow_id: str | None = Query(default=None, max_length=128)) -> Any:
        return ok({"job_list": await run_in_threadpool(jobs.job_list, flow_id)})

    @router.get(paths.PLATFORM_TASK_LOG_LINES)
    async def log_lines(
        task_id: str = Query(min_length=1, max_length=128),
        log_level: str = Query(default="info", max_length=16),
    ) -> Any:
        lines = await run_in_threadpool(
            jobs.participant.views.read_log, check_id(task_id, "task_id"), log_level
        )
        return ok({"num": len(lines)})

    @router.get(paths.PLATFORM_TASK_LOG)
    async def get_log(
        task_id: str = Query(min_length=1, max_length=128),
        log_level: str = Query(default="info", max_length=16),
        start: int = Query(default=0, ge=0),
        length: int | None = Query(default=None, ge=0, le=100_000),
    ) -> Any:
        lines = await run_in_threadpool(
            jobs.participant.views.read_log, check_id(task_id, "task_id"), log_level
        )
        chosen = lines[start:] if length is None else lines[start : start + length]
        return ok("\n".join(chosen))

    @router.get("/admin/v1/jobs")
    async def list_jobs(flow_id: str | None = Query(default=None, max_length=128)) -> Any:
        return ok(await run_in_threadpool(jobs.participant.views.jobs, flow_id))

    @router.get("/admin/v1/jobs/{job_id}/tasks")
    async def job_tasks(job_id: str) -> Any:
        return ok(
            await run_in_threadpool(jobs.participant.views.local_tasks, check_id(job_id, "job_id"))
        )

    return router
