"""``isthmus job``: submit a job on this node (its initiator), follow it, stop it, read a
task's log, ask why it failed, and look at what its tasks left here (``output``). Every
call but ``output`` goes to the spec's north-south paths (``/v1/platform/schedule/...``),
the ones an upper layer would use."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from isthmus.cli.common import AsJson, Home, call, emit, err, fail, out, print_table, utc_minute
from isthmus.wire.paths import (
    ADMIN_JOB_OUTPUTS,
    ADMIN_JOBS,
    PLATFORM_JOB_CREATE_ALL,
    PLATFORM_JOB_STATUS_ALL,
    PLATFORM_JOB_STOP_ALL,
    PLATFORM_JOB_WHY,
    PLATFORM_TASK_LOG,
)
from isthmus.wire.status import Status

#: A job's statuses once it ended, as the node shows them (FINISHED: a job whose result
#: its node does not know yet, or a foreign scheduler's answer passed through).
ENDED = frozenset({Status.SUCCESS, Status.FAILED, Status.STOPPED, Status.REJECTED, Status.FINISHED})

job_app = typer.Typer(help="Jobs: submit, follow, stop, and find out why.", no_args_is_help=True)


@job_app.command("submit")
def job_submit(
    home: Home,
    document: Annotated[Path, typer.Argument(help="the job: {flow_id?, dag, config} JSON")],
    scheduler: Annotated[
        str | None, typer.Option(help="the node that schedules it (default: this one)")
    ] = None,
    wait: Annotated[bool, typer.Option(help="follow the job until it ends")] = True,
    timeout: Annotated[float, typer.Option(help="seconds to follow it")] = 3600.0,
    as_json: AsJson = False,
) -> None:
    """Submit a job on this node (its initiator); with --wait, show its progress and
    exit 0 only if every task succeeded."""
    try:
        body = json.loads(document.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {document}: {exc}", 2) from exc
    if scheduler:
        body["scheduler"] = scheduler
    job_id = call(home, "POST", PLATFORM_JOB_CREATE_ALL, body)["job_id"]
    if not wait:
        emit({"job_id": job_id}, as_json, lambda d: out.print(d["job_id"]))
        return
    err.print(f"job {job_id} submitted")
    _follow(home, job_id, timeout)
    summary = call(home, "GET", PLATFORM_JOB_WHY, job_id=job_id)
    emit(summary, as_json, _why_report)
    if summary["result"] != Status.SUCCESS:
        raise typer.Exit(1)


def _follow(home: Path, job_id: str, timeout_s: float) -> None:
    """Print each task's status as it changes, until the job ends."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = call(home, "GET", PLATFORM_JOB_STATUS_ALL, job_id=job_id)
        for task, status in state.get("status", {}).items():
            if seen.get(task) != status:
                seen[task] = status
                err.print(f"  {task:<24} {status}", highlight=False)
        if state.get("job_status") in ENDED:
            return
        time.sleep(0.5)
    raise fail(f"job {job_id} still runs after {timeout_s:.0f} s (it goes on)")


@job_app.command("status")
def job_status(home: Home, job_id: str, as_json: AsJson = False) -> None:
    """The job's status and every task's, as its scheduler sees them."""
    state = call(home, "GET", PLATFORM_JOB_STATUS_ALL, job_id=job_id)
    emit(state, as_json, _tasks_table)


def _tasks_table(state: dict[str, Any]) -> None:
    print_table(
        f"job {state.get('job_id')}: {state.get('job_status')}",
        ["task", "task id", "status", "parties", "reason"],
        [
            [
                t["task_name"],
                t["task_id"],
                t["status"],
                ", ".join(f"{p['role']}@{p['node_id']}:{p['status']}" for p in t["parties"]),
                t.get("reason"),
            ]
            for t in state.get("tasks", [])
        ],
    )


@job_app.command("list")
def job_list(
    home: Home,
    flow_id: Annotated[str | None, typer.Option(help="only this flow's jobs")] = None,
    as_json: AsJson = False,
) -> None:
    """Jobs this node takes part in or schedules, newest first: the full job id, its
    status (an ended job SUCCESS, FAILED, STOPPED or REJECTED), when it started and
    ended, its initiator, and why it did not succeed."""
    rows = call(home, "GET", ADMIN_JOBS, flow_id=flow_id)
    emit(rows, as_json, _jobs_table)


def _jobs_table(rows: list[dict[str, Any]]) -> None:
    """One line per job, its id whole (it is what every other command takes), then the
    reason, indented, when it did not succeed: no column is ever cut to fit."""
    out.print("job  status  started → ended  initiator", highlight=False, markup=False)
    for job in rows:
        started = utc_minute(job.get("started_at")) or "-"  # a rejected job never started
        ended = utc_minute(job.get("finished_at")) or "-"
        out.print(
            f"{job['job_id']}  {job['status']}  {started} → {ended}  {job.get('initiator')}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        if job.get("reason"):
            out.print(f"    {job['reason']}", highlight=False, markup=False, soft_wrap=True)


@job_app.command("stop")
def job_stop(
    home: Home,
    job_id: str,
    task: Annotated[str | None, typer.Option(help="stop only this task and its downstream")] = None,
) -> None:
    """Stop a job everywhere, or one task and everything after it."""
    call(home, "POST", PLATFORM_JOB_STOP_ALL, {"job_id": job_id, "task_name": task})
    err.print(f"stop of {job_id}{' task ' + task if task else ''} requested")


@job_app.command("logs")
def job_logs(
    home: Home,
    task_id: str,
    level: Annotated[str, typer.Option(help="info, debug or error")] = "info",
) -> None:
    """This node's log of a task (every party of ours)."""
    text = call(home, "GET", PLATFORM_TASK_LOG, task_id=task_id, log_level=level)
    out.print(text, highlight=False, markup=False)


@job_app.command("why")
def job_why(home: Home, job_id: str, as_json: AsJson = False) -> None:
    """How the job ended and, if it failed, which party's task failed, why, and the
    end of that task's log: one answer, across parties."""
    emit(call(home, "GET", PLATFORM_JOB_WHY, job_id=job_id), as_json, _why_report)


def _why_report(summary: dict[str, Any]) -> None:
    out.print(f"job {summary['job_id']}: {summary['result']}", highlight=False)
    if summary.get("reason"):
        out.print(f"  reason: {summary['reason']}", highlight=False, markup=False)
    for failure in summary.get("failures", []):
        out.print(
            f"\n  {failure['task_name']} failed on {failure['node_id']} ({failure['role']}): "
            f"{failure['reason']}",
            highlight=False,
            markup=False,
        )
        for line in (failure.get("log_tail") or "").splitlines():
            out.print(f"    | {line}", highlight=False, markup=False)


@job_app.command("output")
def job_output(
    home: Home,
    job_id: str,
    task: Annotated[str | None, typer.Argument(help="one task, by name or id")] = None,
    rows: Annotated[int, typer.Option(help="rows of each table to show (1 to 100)")] = 5,
    as_json: AsJson = False,
) -> None:
    """This node's outputs of a job's tasks (this party's side only): each table with
    its first rows, each report's JSON. Operator role needed: they show data."""
    if not 1 <= rows <= 100:
        raise fail(f"--rows {rows}: give 1 to 100", 2)
    found = call(home, "GET", ADMIN_JOB_OUTPUTS.format(job_id=job_id), task=task, rows=rows)
    emit(found, as_json, _outputs_report)


def _outputs_report(outputs: list[dict[str, Any]]) -> None:
    if not outputs:
        out.print("no outputs declared by this node's tasks", highlight=False)
    for o in outputs:
        out.print(
            f"{o['task_name']} ({o['party']}, {o['status']}) {o['key']}: "
            f"table {o['name']} in namespace {o['namespace']}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        if not o.get("published"):
            out.print(f"  {o.get('note')}", highlight=False, markup=False)
            continue
        shown = o.get("preview") or {}
        if shown.get("kind") == "json":
            out.print_json(json.dumps(shown["document"]))
        elif shown.get("kind") == "table":
            print_table(
                f"{o.get('count') if o.get('count') is not None else '?'} rows",
                list(shown["header"]),
                shown["rows"],
            )
            if shown.get("more"):
                out.print("  …", highlight=False)
        else:
            out.print(shown.get("text") or o.get("note") or "", highlight=False, markup=False)
