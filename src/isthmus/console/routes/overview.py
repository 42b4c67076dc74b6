"""The Overview page: this node, its partners and their contract states, each partner's
health and clock skew as the doctor last found them, the running jobs and the approvals
waiting for a decision.

Each section is what one admin API read returns, shown only to a principal the policy
lets make that read (the doctor: admins). The doctor calls every partner, so its result
is cached for ``DOCTOR_TTL_S``; a page load waits at most ``DOCTOR_WAIT_S`` for a fresh
run and otherwise shows the last one (with its time), never hanging on a partner that
does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from isthmus.console.authz import can, current
from isthmus.console.render import render
from isthmus.console.state import console_state
from isthmus.node.context import NodeContext
from isthmus.wire import paths
from isthmus.wire.node import ContractStatus
from isthmus.wire.status import Status

router = APIRouter()

DOCTOR_TTL_S = 30.0
DOCTOR_WAIT_S = 3.0
LIVE_JOBS = frozenset({Status.PENDING, Status.READY, Status.RUNNING})


def identity(ctx: NodeContext) -> dict[str, Any]:
    key = ctx.identity.private_key.public_key()
    return {
        **ctx.info.model_dump(exclude_none=True, include={"node_id", "name", "inst_id"}),
        "institution": ctx.info.institution,
        "address": ctx.config.public_address,
        "auth_type": key.auth_type,
        "key_fingerprint": key.fingerprint(),
        "tls": ctx.config.interconn.tls.enabled,
    }


def running_jobs(ctx: NodeContext) -> list[dict[str, Any]]:
    return [j for j in ctx.jobs.participant.views.jobs() if j["status"] in LIVE_JOBS]


def pending_approvals(ctx: NodeContext) -> list[dict[str, Any]]:
    return ctx.approvals.approvals(status=ContractStatus.APPLIED.value)


async def doctor_report(request: Request) -> dict[str, Any] | None:
    """The doctor's last result (fresh within ``DOCTOR_TTL_S``), or None before any
    run has finished. A stale one starts a run; the page waits for it briefly."""
    state = console_state(request)
    cache = state.caches.setdefault("overview.doctor", {"at": 0.0, "report": None, "task": None})
    task: asyncio.Task[dict[str, Any]] | None = cache["task"]
    if time.monotonic() - cache["at"] > DOCTOR_TTL_S and (task is None or task.done()):
        task = asyncio.create_task(state.ctx.doctor.examine())
        cache["task"] = task

        def _store(done: asyncio.Task[dict[str, Any]]) -> None:
            if not done.cancelled() and done.exception() is None:
                cache["report"], cache["at"] = done.result(), time.monotonic()

        task.add_done_callback(_store)
    if task is not None and not task.done():
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(asyncio.shield(task), DOCTOR_WAIT_S)
    report: dict[str, Any] | None = cache["report"]
    return report


@router.get("/console/")
async def overview(request: Request) -> Response:
    principal = current(request)
    ctx = console_state(request).ctx
    contracts = await run_in_threadpool(ctx.contracts.list)
    doctor = None
    if can(principal, "GET", paths.ADMIN_DOCTOR):
        doctor = await doctor_report(request)
    health = {p["peer_node_id"]: p for p in (doctor or {}).get("peers", [])}
    return render(
        request,
        "overview/index.html",
        title_key="overview.title",
        me=identity(ctx),
        contracts=contracts,
        doctor=doctor,
        health=health,
        show_health=can(principal, "GET", paths.ADMIN_DOCTOR),
        jobs=await run_in_threadpool(running_jobs, ctx),
        approvals=await run_in_threadpool(pending_approvals, ctx),
    )
