"""The Models page (``/console/models``): for each finished job, its evaluate tasks'
reports (metrics and pictures) and every task's output files.

What each role sees follows the admin API's policy for a job's outputs
(``ADMIN_JOB_OUTPUTS``, operators only, because a preview holds data rows): operators get
the reports, the pictures and the files to download; every other role sees which files
each task left and their sizes, nothing of their content. Files are served by
``/console/models/{job_id}/{task}/{key}``, which checks the role again, checks each id
from the URL, and reads only under the node's storage root (``wire.ids.inside``): a
picture as ``image/png``, anything else as a download.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from starlette.concurrency import run_in_threadpool

from isthmus.console import authz
from isthmus.console.evaluations import JobModels, finished_jobs, job_models, output_file
from isthmus.console.render import render
from isthmus.console.state import node_ctx
from isthmus.node.context import NodeContext
from isthmus.wire import paths
from isthmus.wire.ids import check_id

router = APIRouter()


def _models(ctx: NodeContext, with_reports: bool) -> list[JobModels]:
    found = (job_models(ctx, job, with_reports=with_reports) for job in finished_jobs(ctx))
    return [m for m in found if m is not None]


@router.get("/console/models")
async def models_page(request: Request) -> HTMLResponse:
    principal = authz.current(request)
    operator = authz.can(principal, "GET", paths.ADMIN_JOB_OUTPUTS)
    jobs = await run_in_threadpool(_models, node_ctx(request), operator)
    return render(
        request, "models/index.html", title_key="models.title", jobs=jobs, operator=operator
    )


@router.get("/console/models/{job_id}/{task}/{key}")
async def model_file(request: Request, job_id: str, task: str, key: str) -> FileResponse:
    authz.require(request, "GET", paths.ADMIN_JOB_OUTPUTS)
    ids = check_id(job_id, "job_id"), check_id(task, "task"), check_id(key, "key")
    data, file_type = await run_in_threadpool(output_file, node_ctx(request), *ids)
    if file_type == "png":
        return FileResponse(data, media_type="image/png")
    return FileResponse(
        data,
        media_type="application/octet-stream",
        filename=f"{ids[0]}-{ids[1]}-{ids[2]}.{file_type or 'bin'}".replace("/", "_"),
    )
