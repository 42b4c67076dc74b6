"""What the job pages read from the node, each through the service the admin API's route
calls: the list (``TaskViews.jobs``, as ``GET /admin/v1/jobs``), a job's status and
failure summary (``JobService.why``, as ``job/why``: it carries the status's tasks and
parties), the DAG from the stored job document, this node's task runs and their logs
(``TaskViews``, as ``task/get_log``). Reading only: nothing here changes a job."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from isthmus.console.dag_layout import Edge, Position, edges, layout, size
from isthmus.node.context import NodeContext
from isthmus.scheduler.jobdoc import load_job
from isthmus.store.schema import JobRow, ScheduledJobRow
from isthmus.wire.errors import NotFound

#: Lines of a task's log the logs page shows (the tail).
TAIL_LINES = 200


@dataclass(frozen=True)
class Drawing:
    """The job page's DAG: boxes, arrows and the canvas size."""

    positions: dict[str, Position]
    edges: list[Edge]
    width: int
    height: int


def _dag(ctx: NodeContext, job_id: str) -> dict[str, list[str]]:
    """Task name → its upstream tasks (DAG order), from the job document stored here."""
    with ctx.store.session() as s:
        row = s.get(ScheduledJobRow, job_id) or s.get(JobRow, job_id)
        if row is None:
            raise NotFound(f"no job {job_id} on this node")
        document = row.document
    job = load_job(document)
    order = [c.name for c in job.components]
    return {c.name: [n for n in order if n in c.upstream()] for c in job.components}


async def drawing(ctx: NodeContext, job_id: str) -> Drawing:
    dag = await asyncio.to_thread(_dag, ctx, job_id)
    positions = layout(dag)
    width, height = size(positions)
    return Drawing(positions, edges(dag, positions), width, height)


async def summary(ctx: NodeContext, job_id: str) -> dict[str, Any]:
    """``job/why``'s answer: status, tasks with their parties, failures with log tails."""
    return await ctx.jobs.why(job_id)


async def jobs(ctx: NodeContext) -> list[dict[str, Any]]:
    return await asyncio.to_thread(ctx.jobs.participant.views.jobs, None)


async def local_runs(ctx: NodeContext, job_id: str) -> dict[str, list[dict[str, Any]]]:
    """This node's runs of the job's tasks, by task id (no log paths: not shown)."""
    rows = await asyncio.to_thread(ctx.jobs.participant.views.local_tasks, job_id)
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        shown = {k: v for k, v in row.items() if k != "log_path"}
        found.setdefault(str(row["task_id"]), []).append(shown)
    return found


async def log_lines(ctx: NodeContext, task_id: str, level: str = "info") -> list[str]:
    """This node's log of a task, every party of ours (``NotFound`` when none ran here)."""
    return await asyncio.to_thread(ctx.jobs.participant.views.read_log, task_id, level)


def task_of(summary_: dict[str, Any], task_id: str) -> dict[str, Any]:
    """The job's task with this id; ``NotFound`` when the job has none (a task id from
    the URL must belong to the job in the URL)."""
    for task in summary_.get("tasks") or []:
        if task.get("task_id") == task_id:
            return dict(task)
    raise NotFound(f"no task {task_id} in job {summary_.get('job_id')}")
