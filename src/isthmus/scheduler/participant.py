"""The participant's side of a job (digest §2.2: job/create, start, task/start, job/stop,
task/poll): what every party of a job runs, whoever schedules it.

* ``create`` validates the whole job against this node (it is a party; every component
  is registered, enabled, and every one of our parties' parameters passes its
  self-description; every other party is under an approved contract), stores it, and
  opens the job's transport session. A repeated create of the same job is a no-op; a
  different document under a known job id is a conflict.
* ``start_task`` runs one container per party of ours that plays the component (a
  node may hold several roles), through the component's runner (``runs``: rows are
  written before anything is launched, and a run's runner handle right after, so a
  restart finds every run again instead of orphaning it).
* ``runs`` follows the runs: exit codes, timeouts. Every final status becomes a
  ``Report`` that the node sends to the scheduler (callback mode) or hands to its own
  coordinator; in poll mode the scheduler asks through ``poll`` (answered from
  ``views``).
* ``stop`` stops a task and everything downstream of it, or the whole job: every run
  of ours not ended is STOPPED (to a partner, FAILED with a reason that says stopped:
  ``poll`` answers in the spec's words), and the job's row FINISHED.

Only the job's scheduler (the node that created it here) may drive it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import update

from isthmus.scheduler import status as st
from isthmus.scheduler.jobdoc import job_document, load_document, load_job, same_job, session_id
from isthmus.scheduler.runs import Runs
from isthmus.scheduler.submissions import submitted_here
from isthmus.scheduler.views import TaskViews, answer, driven_job, plays
from isthmus.store.schema import JobRow, LocalTaskRow, ScheduledJobRow
from isthmus.wire.clock import now_ms
from isthmus.wire.dag import InvalidJob, Job, Problem, parse_job
from isthmus.wire.errors import NotFound, StateConflict, ValidationFailed
from isthmus.wire.ids import check_id
from isthmus.wire.logcontext import bound
from isthmus.wire.mprac import TokenRef
from isthmus.wire.node import ContractStatus
from isthmus.wire.status import Status, on_the_wire

log = logging.getLogger(__name__)


class Gate(Protocol):
    """What a job may touch here (datasets, models, permits); raises ``InvalidJob``."""

    def admit(
        self,
        job: Job,
        tokens: Sequence[TokenRef],
        *,
        caller: str,
        document: Mapping[str, Any],
        initiator_sign: str,
        own_job: bool,
    ) -> None: ...


class Sessions(Protocol):
    """The transport sessions of jobs (the node wires the transport service in)."""

    async def open(self, session_id: str, token: str, parties: frozenset[str]) -> None:
        """``parties``: the job's parties other than this node (the only partners the
        session accepts messages from and sends to)."""
        ...

    async def release(self, session_id: str) -> None: ...


class Participant:
    """The spec's participant calls; the runs they start live in ``runs``, what they
    show in ``views``."""

    def __init__(self, runs: Runs, sessions: Sessions, gate: Gate | None = None) -> None:
        """``runs``: our parties' task runs (with the report hook that sends their final
        statuses to the job's scheduler); the participant shares its store, registry
        and settings."""
        self.runs = runs
        self.store = runs.store
        self.registry = runs.registry
        self.settings = runs.settings
        self.sessions = sessions
        self.gate = gate
        #: What the node shows of its jobs and runs (and ``task/poll``'s answer).
        self.views = TaskViews(runs.store, runs.settings.node_id)

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    async def create(
        self,
        caller: str,
        document: Mapping[str, Any],
        tokens: Sequence[TokenRef] = (),
        initiator_sign: str = "",
    ) -> None:
        """``tokens``: the permits the request presented (``x-mprac-token-set``), and
        ``initiator_sign`` the initiator's statement of them when the caller is not the
        initiator."""
        wanted = job_document(document)
        job = parse_job(wanted)  # checks every id in the document, each by its field
        if not job.job_id:
            raise ValidationFailed("job_id: is required (the initiator generates it)")
        if not any(node == self.node_id for _, _, node in job.parties()):
            raise ValidationFailed(f"config.role: node {self.node_id} has no role in this job")
        # "We are the initiator" holds only for a job our own operator submitted (we
        # have its record); a partner's job naming us is refused, not waved through.
        own_job = job.initiator_node == self.node_id
        if own_job and not await asyncio.to_thread(
            submitted_here, self.store, job.job_id, wanted, caller
        ):
            raise InvalidJob(
                [
                    Problem(
                        "config.initiator.node_id",
                        f"node {self.node_id} did not submit job {job.job_id} for {caller} "
                        "to schedule: only its own operator's jobs may name it initiator",
                    )
                ]
            )
        if await asyncio.to_thread(self._known, job.job_id, wanted):
            return  # a repeated create: admitted (and counted) the first time
        problems = await asyncio.to_thread(self._check, job, caller)
        if problems:
            raise InvalidJob(problems)
        if self.gate is not None:
            gate = self.gate
            await asyncio.to_thread(
                lambda: gate.admit(
                    job,
                    tokens,
                    caller=caller,
                    document=wanted,
                    initiator_sign=initiator_sign,
                    own_job=own_job,
                )
            )

        def _store() -> bool:
            with self.store.session() as s:
                row = s.get(JobRow, job.job_id)
                if row is not None:
                    if not same_job(load_document(row.document), wanted):
                        raise StateConflict(
                            f"job {job.job_id} already exists here with another DAG or config"
                        )
                    return False
                stamp = now_ms()
                s.add(
                    JobRow(
                        job_id=job.job_id,
                        flow_id=job.flow_id or "",
                        scheduler_node_id=caller,
                        initiator_node_id=job.initiator_node,
                        document=json.dumps(wanted),
                        status=Status.READY,
                        session_token=secrets.token_urlsafe(24),
                        created_at=stamp,
                        updated_at=stamp,
                    )
                )
                self.store.audit.append(
                    s,
                    actor=f"peer:{caller}",
                    action="job.created",
                    subject=str(job.job_id),
                    outcome="ok",
                    details={"initiator": job.initiator_node, "scheduler": caller},
                )
                return True

        if await asyncio.to_thread(_store):
            row = await asyncio.to_thread(self.views.job, job.job_id)
            parties = frozenset(node for _, _, node in job.parties()) - {self.node_id}
            await self.sessions.open(session_id(job.job_id), row.session_token, parties)
            with bound(job_id=job.job_id):
                log.info("job %s created (scheduler %s)", job.job_id, caller)

    def _known(self, job_id: str, wanted: dict[str, Any]) -> bool:
        with self.store.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return False
            if not same_job(load_document(row.document), wanted):
                raise StateConflict(f"job {job_id} already exists here with another DAG or config")
            return True

    def _check(self, job: Job, caller: str) -> list[Problem]:
        problems = self.registry.check_job(job)
        others = {node for _, _, node in job.parties()} | {caller}
        with self.store.session() as s:
            for node in sorted(others - {self.node_id}):
                contract = self.store.contracts.active_for_peer(s, node)
                if contract is None or contract.status != ContractStatus.APPROVED:
                    problems.append(Problem("config.role", f"no approved contract with {node}"))
        return problems

    async def start(self, caller: str, job_id: str) -> None:
        check_id(job_id, "job_id")

        def _start() -> None:
            with self.store.session() as s:
                row = driven_job(s, self.node_id, caller, job_id)
                if row.status == Status.FINISHED:
                    raise StateConflict(f"job {job_id} is FINISHED")
                if row.status == Status.READY:
                    row.status, row.updated_at = Status.RUNNING, now_ms()
                    row.started_at = row.started_at or row.updated_at

        await asyncio.to_thread(_start)

    async def start_task(self, caller: str, job_id: str, task_id: str, task_name: str) -> None:
        check_id(job_id, "job_id")
        check_id(task_id, "task_id")
        check_id(task_name, "task_name")
        launches = await asyncio.to_thread(self.runs.plan, caller, job_id, task_id, task_name)
        await self.runs.launch(job_id, launches)

    async def stop(self, caller: str, job_id: str, task_name: str | None = None) -> int:
        """Stop ``task_name`` and its downstream, or every task and the job; returns how
        many runs were stopped."""
        check_id(job_id, "job_id")
        if task_name:
            check_id(task_name, "task_name")

        def _targets() -> list[LocalTaskRow]:
            with self.store.session() as s:
                job_row = driven_job(s, self.node_id, caller, job_id)
                names: set[str] | None = None
                if task_name:
                    job = load_job(job_row.document)
                    if task_name not in {c.name for c in job.components}:
                        raise NotFound(f"job {job_id} has no task {task_name!r}")
                    names = {task_name} | job.downstream(task_name)
                rows = s.query(LocalTaskRow).filter_by(job_id=job_id).all()
                return [
                    r
                    for r in rows
                    if r.status not in st.TASK_DONE and (names is None or r.task_name in names)
                ]

        targets = await asyncio.to_thread(_targets)
        await asyncio.gather(
            *(
                asyncio.to_thread(self.runs.stop_run, row, f"stopped by the scheduler ({caller})")
                for row in targets
            )
        )
        if not task_name:
            await asyncio.to_thread(self._finish_job, job_id, f"stopped by {caller}")
            await self.sessions.release(session_id(job_id))
        return len(targets)

    async def stop_task_id(self, caller: str, task_id: str) -> int:
        """Kuscia's ``task/stop`` (``{task_id}``): that task only."""
        check_id(task_id, "task_id")
        rows = await asyncio.to_thread(self.views.task_rows, task_id)
        if not rows:
            raise NotFound(f"no task {task_id} here")
        await self.stop(caller, rows[0].job_id, rows[0].task_name)
        return len(rows)

    def _finish_job(self, job_id: str, reason: str) -> None:
        """FINISHED, with the result when this node is also the scheduler (its row has
        it already); otherwise ``results.ResultLearner`` asks the scheduler for it.

        Conditional UPDATEs, not a read then a write: the result may be kept at the same
        moment (``results.keep_result``), and its reason must not be overwritten here."""
        stamp = now_ms()
        with self.store.session() as s:
            ended = s.execute(
                update(JobRow)
                .where(JobRow.job_id == job_id, JobRow.status != Status.FINISHED)
                .values(status=Status.FINISHED, updated_at=stamp, finished_at=stamp)
                .execution_options(synchronize_session=False)
            )
            if not getattr(ended, "rowcount", 0):
                return
            s.execute(  # the stop's reason, unless the result (and its reason) is known
                update(JobRow)
                .where(JobRow.job_id == job_id, JobRow.result.is_(None))
                .values(reason=reason)
                .execution_options(synchronize_session=False)
            )
            row = s.get(JobRow, job_id)
            mine = row is not None and row.scheduler_node_id == self.node_id
            own = s.get(ScheduledJobRow, job_id) if mine else None
            if row is not None and own is not None and own.result is not None:
                row.result, row.reason = own.result, own.reason

    async def poll(self, caller: str, task_id: str, role: str = "") -> dict[str, Any]:
        check_id(task_id, "task_id")
        rows = await asyncio.to_thread(self.views.task_rows, task_id)
        if not rows:
            raise NotFound(f"no task {task_id} here")
        job_row = await asyncio.to_thread(self.views.job, rows[0].job_id)
        if caller not in (job_row.scheduler_node_id, self.node_id):
            raise NotFound(f"no task {task_id} here for node {caller}")
        wanted = [r for r in rows if plays(r.party, role)] if role else rows
        if not wanted:
            raise NotFound(f"task {task_id} has no party of role {role!r} here")
        found = answer(wanted, self.settings.share_log_tail)
        return {**found, "status": on_the_wire(found["status"])}
