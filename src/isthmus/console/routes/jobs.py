"""The Jobs pages: the list with its filters, a job's page (the DAG drawn in SVG with
each task's live state, per-party status, the failure summary in plain words, stop),
a task's log (tail, and follow), and the submission form.

Every read is checked against the admin API's read it shows (``require`` with its GET
route: all roles today, by the policy table) and goes through ``console.job_data`` (the
services the admin API's routes call);
every action through ``authz.checked_form`` with the admin API route it corresponds to
(``job/stop_all``, ``job/stop_task``, ``job/create_all``), then the same ``JobService``
method that route calls, so the console can do exactly what the token could do with the
API, no more. Ids from the URL or a form pass ``check_id`` first; a refusal becomes a
flash message or a field error, never a stack trace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse

from isthmus.console import job_data
from isthmus.console.authz import (
    CSRF_FIELD,
    actor,
    can,
    check_csrf,
    checked_form,
    current,
    principal_named,
    require,
)
from isthmus.console.authz import read_form as read_body
from isthmus.console.dag_layout import BOX_H, BOX_W
from isthmus.console.i18n import t
from isthmus.console.job_events import StreamGate, job_states, log_follow
from isthmus.console.job_form import FIELDS, FormErrors, field_errors, read_form
from isthmus.console.job_list import STATUSES, keep, read_filters, stamp
from isthmus.console.job_state import JOB_ENDED, party_key
from isthmus.console.render import flash, lang_of, render
from isthmus.console.state import console_state, node_ctx
from isthmus.wire import paths
from isthmus.wire.errors import IsthmusError, NotFound, ValidationFailed
from isthmus.wire.ids import check_id

router = APIRouter(prefix="/console/jobs")  # ``pages`` includes it

#: Rows the list shows at most (newest first).
MAX_ROWS = 500
_SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _stream(request: Request, stream: AsyncIterator[str]) -> Response:
    """An event stream, if the node's ``StreamGate`` lets one more open."""
    gate = console_state(request).caches.setdefault("jobs.streams", StreamGate())
    counted = gate.guarded(stream)
    if counted is None:
        return PlainTextResponse("too many open streams on this node", status_code=503)
    return StreamingResponse(counted, media_type="text/event-stream", headers=_SSE_HEADERS)


def _back(request: Request, to: str, text: str, kind: str = "ok") -> RedirectResponse:
    flash(request, text, kind)
    return RedirectResponse(to, status_code=303)


@router.get("")
async def jobs_list(request: Request) -> Response:
    require(request, "GET", paths.ADMIN_JOBS)
    filters = read_filters(dict(request.query_params))
    rows = keep(await job_data.jobs(node_ctx(request)), filters)
    return render(
        request,
        "jobs/list.html",
        title_key="jobs.title",
        jobs=rows[:MAX_ROWS],
        more=len(rows) > MAX_ROWS,
        filters=filters,
        statuses=STATUSES,
        when=stamp,
        create_route=paths.PLATFORM_JOB_CREATE_ALL,
    )


@router.get("/new")
async def submit_form(request: Request) -> Response:
    current(request)  # the page tells a role that may not submit so; the POST checks
    return _form_page(request, {}, {})


def _form_page(request: Request, values: dict[str, str], errors: dict[str, list[str]]) -> Response:
    """The form, with what was typed and the refusal's messages against their fields
    (200: a page to correct, so the browser logs no failed load)."""
    return render(
        request,
        "jobs/new.html",
        title_key="jobs.new.title",
        values={k: values.get(k, "") for k in FIELDS},
        errors=errors,
        create_route=paths.PLATFORM_JOB_CREATE_ALL,
    )


@router.post("/new")
async def submit(request: Request) -> Response:
    form = await checked_form(request, "POST", paths.PLATFORM_JOB_CREATE_ALL)
    principal = current(request)
    try:
        document = read_form(form)
        job_id = await node_ctx(request).jobs.submit(document, actor=actor(principal))
    except FormErrors as exc:
        return _form_page(request, form, exc.errors)
    except ValidationFailed as exc:
        return _form_page(request, form, field_errors(exc.message, exc.details))
    except IsthmusError as exc:
        return _form_page(request, form, {"form": [exc.message]})
    lang = lang_of(request)
    return _back(request, f"/console/jobs/{quote(job_id)}", t(lang, "jobs.flash.submitted"))


def _checked_job(request: Request, job_id: str) -> str:
    return check_id(job_id, "job_id")


@router.get("/{job_id}")
async def job_page(request: Request, job_id: str) -> Response:
    principal = require(request, "GET", paths.PLATFORM_JOB_WHY)
    ctx = node_ctx(request)
    lang = lang_of(request)
    try:
        job_id = _checked_job(request, job_id)
        found = await job_data.summary(ctx, job_id)
        drawing = await job_data.drawing(ctx, job_id)
        runs = await job_data.local_runs(ctx, job_id)
    except IsthmusError as exc:
        return _back(request, "/console/jobs", t(lang, "jobs.flash.no_job", reason=exc.message),
                     "error")  # fmt: skip
    tasks = {str(task["task_name"]): task for task in found.get("tasks") or []}
    return render(
        request,
        "jobs/job.html",
        title_key="jobs.job.title",
        title=t(lang, "jobs.job.heading", job_id=job_id),
        job=found,
        job_id=job_id,
        tasks=tasks,
        drawing=drawing,
        box_w=BOX_W,
        box_h=BOX_H,
        runs=runs,
        party_key=party_key,
        failures=plain_failures(found, lang),
        ended=found.get("job_status") in JOB_ENDED,
        may_stop=can(principal, "POST", paths.PLATFORM_JOB_STOP_ALL),
        may_stop_task=can(principal, "POST", paths.PLATFORM_JOB_STOP_TASK),
    )


def plain_failures(found: dict[str, Any], lang: str) -> list[dict[str, str]]:
    """The failure summary in plain words: one sentence per failed party, with the end
    of its log when the party shared it (as ``isthmus job why`` prints it)."""
    said = []
    for f in found.get("failures") or []:
        text = t(
            lang,
            "jobs.why.failed_on",
            task=f.get("task_name"),
            node=f.get("node_id"),
            role=f.get("role"),
            reason=f.get("reason") or t(lang, "jobs.why.no_reason"),
        )
        said.append({"text": text, "log_tail": str(f.get("log_tail") or "")})
    if not said and found.get("reason") and found.get("job_status") != "SUCCESS":
        said.append({"text": str(found["reason"]), "log_tail": ""})
    return said


def _viewer(request: Request) -> Callable[[], Awaitable[bool]]:
    """Whether the signed-in token still exists: a stream ends when it is revoked."""
    name = current(request).name

    async def alive() -> bool:
        return await run_in_threadpool(principal_named, request, name) is not None

    return alive


@router.get("/{job_id}/events")
async def job_events(request: Request, job_id: str) -> Response:
    require(request, "GET", paths.PLATFORM_JOB_STATUS_ALL)
    ctx = node_ctx(request)
    job_id = _checked_job(request, job_id)
    lang = lang_of(request)

    async def read() -> dict[str, Any]:
        return await ctx.jobs.status(job_id)

    async def finale(status: dict[str, Any]) -> dict[str, Any]:
        found = await ctx.jobs.why(job_id) if status.get("job_status") != "SUCCESS" else status
        return {"job_status": status.get("job_status"), "failures": plain_failures(found, lang)}

    await read()  # a job that is not here: the admin API's answer (404), no stream
    return _stream(request, job_states(read, ctx.jobs.me, finale, alive=_viewer(request)))


@router.get("/{job_id}/logs")
async def task_logs(request: Request, job_id: str) -> Response:
    require(request, "GET", paths.PLATFORM_TASK_LOG)
    ctx = node_ctx(request)
    lang = lang_of(request)
    query = request.query_params
    level = query.get("level", "info")
    level = level if level in ("debug", "info", "warning", "error") else "info"
    try:
        job_id = _checked_job(request, job_id)
        task_id = check_id(query.get("task_id", ""), "task_id")
        task = job_data.task_of(await job_data.summary(ctx, job_id), task_id)
        lines = await job_data.log_lines(ctx, task_id, level)
    except IsthmusError as exc:
        back = (
            f"/console/jobs/{quote(job_id)}" if not isinstance(exc, NotFound) else "/console/jobs"
        )
        return _back(request, back, t(lang, "jobs.flash.no_log", reason=exc.message), "error")
    if query.get("follow") == "1":

        async def read() -> list[str]:
            return await job_data.log_lines(ctx, task_id, level)

        async def job_over() -> bool:
            return (await ctx.jobs.status(job_id)).get("job_status") in JOB_ENDED

        return _stream(request, log_follow(read, job_over, alive=_viewer(request)))
    return render(
        request,
        "jobs/logs.html",
        title_key="jobs.logs.title",
        title=t(lang, "jobs.logs.heading", task=task["task_name"]),
        job_id=job_id,
        task=task,
        level=level,
        lines=lines[-job_data.TAIL_LINES :],
        cut=max(0, len(lines) - job_data.TAIL_LINES),
    )


@router.post("/{job_id}/stop")
async def stop(request: Request, job_id: str) -> Response:
    lang = lang_of(request)
    job_id = _checked_job(request, job_id)
    form = await read_body(request)
    task = form.get("task_name") or None  # one task (and its downstream), or the whole job
    require(request, "POST", paths.PLATFORM_JOB_STOP_TASK if task else paths.PLATFORM_JOB_STOP_ALL)
    check_csrf(request, form.get(CSRF_FIELD) or None)
    here = f"/console/jobs/{quote(job_id)}"
    try:
        if task is not None:
            task = check_id(task, "task_name")
        await node_ctx(request).jobs.stop(job_id, task)
    except IsthmusError as exc:
        return _back(request, here, t(lang, "jobs.flash.stop_failed", reason=exc.message), "error")
    key = "jobs.flash.task_stop_asked" if task else "jobs.flash.stop_asked"
    return _back(request, here, t(lang, key, task=task or ""))
