"""What the Models page shows of a finished job: the ``evaluate`` tasks' reports and
pictures, every other task's output files; and the one file a request names.

Everything is found the way ``isthmus job output`` finds it (``scheduler.outputs``: this
node's runs, their storage records, paths built with ``wire.ids.inside`` under the node's
own storage root), so the console can show no file the admin API would not. A report is
read whole but bounded (``MAX_REPORT_BYTES``); only its aggregates reach a page (the
evaluate component writes no row). Which role sees what is the routes' business.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isthmus.node.context import NodeContext
from isthmus.scheduler.jobdoc import load_document
from isthmus.scheduler.outputs import job_outputs
from isthmus.scheduler.task_storage import local_root
from isthmus.wire.errors import IsthmusError, NotFound
from isthmus.wire.ids import inside
from isthmus.wire.status import Status

#: The evaluate component's name in a DAG, and the pictures it draws (by output key).
EVALUATE = "evaluate"
PICTURES = ("roc", "ks", "lift", "score")
#: The most of a report's JSON read, and the newest finished jobs one page shows.
MAX_REPORT_BYTES = 16 * 1024 * 1024
MAX_JOBS = 20


@dataclass
class OutputFile:
    """One output of a task: its key, type and size in bytes (None: not published)."""

    task: str
    key: str
    file_type: str
    size: int | None


@dataclass
class TaskModel:
    """One task of a finished job: its files and, for an evaluate task, its report."""

    task: str
    evaluate: bool
    files: list[OutputFile] = field(default_factory=list)
    metrics: list[tuple[str, float | int | None]] = field(default_factory=list)
    pictures: list[str] = field(default_factory=list)  # output keys of the PNGs
    note: str | None = None


@dataclass
class JobModels:
    job_id: str
    finished_at: int | None
    tasks: list[TaskModel]


def finished_jobs(ctx: NodeContext, limit: int = MAX_JOBS) -> list[dict[str, Any]]:
    """The newest jobs that ended in SUCCESS on this node's view."""
    jobs = ctx.jobs.participant.views.jobs()
    return [j for j in jobs if j["status"] == Status.SUCCESS][:limit]


def evaluate_tasks(ctx: NodeContext, job_id: str) -> set[str]:
    """The names of the job's tasks that run the evaluate component (from the job's DAG
    as this node holds it; none when it holds no document)."""
    try:
        document = load_document(ctx.jobs.participant.views.job(job_id).document)
    except (NotFound, ValueError):
        return set()
    components = (document.get("dag") or {}).get("components") or []
    return {
        str(c.get("name"))
        for c in components
        if isinstance(c, dict) and c.get("componentName") == EVALUATE
    }


def job_models(ctx: NodeContext, job: dict[str, Any], *, with_reports: bool) -> JobModels | None:
    """The tasks on this node of ``job`` (a row of ``finished_jobs``) with their files
    (and, ``with_reports``, the evaluate reports' metrics); None when none ran here."""
    participant = ctx.jobs.participant
    job_id = str(job["job_id"])
    try:
        outputs = job_outputs(participant.views, participant.settings.storage_url, job_id, None, 1)
    except NotFound:
        return None
    evaluating = evaluate_tasks(ctx, job_id)
    tasks: dict[str, TaskModel] = {}
    for output in outputs:
        name = str(output["task_name"])
        task = tasks.setdefault(name, TaskModel(name, name in evaluating))
        place = Path(output["path"]) if output.get("published") else None
        preview = output.get("preview") or {}
        file_type = str(preview.get("file_type") or preview.get("kind") or "")
        key = str(output["key"])
        task.files.append(OutputFile(name, key, file_type, _size(place)))
        if not (task.evaluate and with_reports and place is not None):
            continue
        if key == "report":
            task.metrics, task.note = _metrics(place)
        elif file_type == "png":
            task.pictures.append(key)
    for task in tasks.values():  # ROC, KS, lift, score: the component's order
        task.pictures.sort(key=_picture_rank)
    return JobModels(job_id, job.get("finished_at"), list(tasks.values()))


def _picture_rank(key: str) -> tuple[int, str]:
    kind = key.removesuffix("_plot")
    return (PICTURES.index(kind) if kind in PICTURES else len(PICTURES), key)


def output_file(ctx: NodeContext, job_id: str, task: str, key: str) -> tuple[Path, str]:
    """The data file of one output (a table's single partition, a picture) and its file
    type; NotFound when there is none. The path lies under the storage root."""
    participant = ctx.jobs.participant
    storage_url = participant.settings.storage_url
    root = local_root(storage_url)
    outputs = job_outputs(participant.views, storage_url, job_id, task, 1)
    for output in outputs:
        if output["key"] != key or not output.get("published") or root is None:
            continue
        place = inside(root, output["namespace"], output["name"])
        data = _data_file(place)
        if data is not None:
            preview = output.get("preview") or {}
            return data, str(preview.get("file_type") or "")
    raise NotFound(f"no published output {key} of task {task} in job {job_id} here")


def _data_file(place: Path) -> Path | None:
    if place.is_file():
        return place
    parts = sorted(p.name for p in place.iterdir() if p.name.startswith("data_"))
    return inside(place, parts[0]) if len(parts) == 1 else None


def _size(place: Path | None) -> int | None:
    if place is None or not place.exists():
        return None
    if place.is_file():
        return place.stat().st_size
    return sum(p.stat().st_size for p in place.iterdir() if p.name.startswith("data_"))


def _metrics(place: Path) -> tuple[list[tuple[str, float | int | None]], str | None]:
    """The report's numbers: its row counts, then each metric (a number, or None where
    the metric does not apply); a note instead when the report cannot be read."""
    data = _data_file(place)
    if data is None or data.stat().st_size > MAX_REPORT_BYTES:
        return [], "unreadable"
    try:
        report = json.loads(data.read_text(encoding="utf-8"))
    except (OSError, ValueError, IsthmusError):
        return [], "unreadable"
    if not isinstance(report, dict):
        return [], "unreadable"
    shown: list[tuple[str, float | int | None]] = []
    for name in ("rows", "positives", "negatives"):
        if isinstance(report.get(name), int):
            shown.append((name, report[name]))
    for name, value in (report.get("metrics") or {}).items():
        if value is None or (isinstance(value, int | float) and math.isfinite(value)):
            shown.append((str(name), value))
    return shown, None
