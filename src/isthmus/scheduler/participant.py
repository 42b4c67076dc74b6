"""The participant's side of a job (digest §2.2: job/create, start, task/start, job/stop,
task/poll): what every party of a job runs, whoever schedules it.

* ``create`` validates the whole job against this node (it is a party; every component
  is registered, enabled, and every one of our parties' parameters passes its
  self-description; every other party is under an approved contract), stores it, and
  opens the job's transport session. A repeated create of the same job is a no-op; a
  different document under a known job id is a conflict.
* ``start_task`` runs one container per party of ours that plays the component (a
  node may hold several roles), through the component's runner. Rows are written
  before anything is launched, and a run's runner handle right after, so a restart
  finds every run again (``recover``) instead of orphaning it.
* ``monitor_once`` follows the runs: exit codes, timeouts. Every final status becomes a
  ``Report`` that the node sends to the scheduler (callback mode) or hands to its own
  coordinator; in poll mode the scheduler asks through ``poll``.
* ``stop`` stops a task and everything downstream of it, or the whole job.

Only the job's scheduler (the node that created it here) may drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from isthmus.scheduler import status as st
from isthmus.scheduler.container_env import Placement, container_env
from isthmus.scheduler.container_specs import Resources
from isthmus.scheduler.jobdoc import (
    job_digest,
    job_document,
    load_document,
    load_job,
    same_job,
    session_id,
    sync_type,
)
from isthmus.scheduler.registry import ComponentRegistry
from isthmus.scheduler.runners import Outcome, Runner, RunnerError, TaskRun
from isthmus.scheduler.task_storage import TaskStorage, local_root
from isthmus.store.db import Store, now_ms
from isthmus.store.schema import AuditEventRow, JobRow, LocalTaskRow
from isthmus.wire.dag import InvalidJob, Job, Problem, parse_job
from isthmus.wire.errors import IsthmusError, NotFound, StateConflict, ValidationFailed
from isthmus.wire.ids import check_id, inside
from isthmus.wire.mprac import TokenRef
from isthmus.wire.node import ContractStatus
from isthmus.wire.status import Status

log = logging.getLogger(__name__)

#: How much of a failed task's log travels to the scheduler (and so to the initiator).
LOG_TAIL_LINES = 20
LOG_TAIL_CHARS = 4000
#: A party that plays no role in a task: nothing runs, and it reports SUCCESS.
NO_PARTY = "-"


#: The audit action that records a job this node's own operator submitted: the only
#: thing that makes a job "ours" (a job's ``config.initiator`` is whatever its sender
#: wrote).
SUBMITTED = "job.submitted"


def record_submission(
    store: Store, job_id: str, document: Mapping[str, Any], scheduler: str, actor: str
) -> None:
    """Write down that this node's operator submitted ``job_id`` with this DAG and
    config, to be scheduled by ``scheduler`` (north-south ``create_all``), before any
    scheduler sees it."""
    with store.session() as s:
        store.audit.append(
            s,
            actor=actor,
            action=SUBMITTED,
            subject=check_id(job_id, "job_id"),
            outcome="ok",
            details={"digest": job_digest(document), "scheduler": scheduler},
        )


def submitted_here(store: Store, job_id: str, document: Mapping[str, Any], scheduler: str) -> bool:
    """Whether this node's operator submitted ``job_id`` with exactly this DAG and
    config, for ``scheduler`` to schedule (another party that saw the job cannot take
    it over by creating it here first)."""
    wanted = {"digest": job_digest(document), "scheduler": scheduler}
    with store.session() as s:
        rows = s.query(AuditEventRow).filter_by(action=SUBMITTED, subject=job_id).all()
        return any(
            {k: json.loads(r.details or "{}").get(k) for k in wanted} == wanted for r in rows
        )


def log_tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])[-LOG_TAIL_CHARS:]


@dataclass(frozen=True)
class Report:
    """A party's final (or first) word on a task, for the scheduler."""

    job_id: str
    scheduler_node_id: str
    sync_type: str
    task_id: str
    role: str
    status: str
    reason: str | None = None
    log_tail: str | None = None

    def callback_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"task_id": self.task_id, "status": self.status, "role": self.role}
        if self.reason:
            body["reason"] = self.reason
        if self.log_tail:
            body["log_tail"] = self.log_tail
        return body


#: Sends a ``Report`` on its way (to this node's coordinator, or as ``task/callback``).
ReportHook = Callable[[Report], Awaitable[None]]


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


class DatasetAccess(Protocol):
    """Registered datasets, written where tasks read them just before a task starts."""

    def prepare(self, dataset_id: str) -> None: ...


class Sessions(Protocol):
    """The transport sessions of jobs (the node wires the transport service in)."""

    async def open(self, session_id: str, token: str, parties: frozenset[str]) -> None:
        """``parties``: the job's parties other than this node (the only partners the
        session accepts messages from and sends to)."""
        ...

    async def release(self, session_id: str) -> None: ...


@dataclass(frozen=True)
class ParticipantSettings:
    node_id: str
    inst_id: str
    storage_url: str
    transport_address: str
    callback_url: str
    logs_dir: Path
    task_timeout_s: int = 86400
    stop_grace_s: float = 5.0
    #: Whether a failed run's log tail goes to the job's scheduler (and so to the
    #: initiator's failure summary). Components never log data rows, but an operator
    #: may still prefer to keep logs in the house.
    share_log_tail: bool = True


class Participant:
    def __init__(
        self,
        store: Store,
        registry: ComponentRegistry,
        runners: Mapping[str, Runner],
        settings: ParticipantSettings,
        sessions: Sessions,
        gate: Gate | None = None,
        datasets: DatasetAccess | None = None,
        report: ReportHook | None = None,
    ) -> None:
        """``report``: where a task's final status goes (the node's job service sends it
        to the job's scheduler); given here so a participant never runs without it."""
        self.gate = gate
        self.datasets = datasets
        self.store = store
        self.registry = registry
        self.runners = runners
        self.settings = settings
        self.sessions = sessions
        self.report = report
        self.wakeup = asyncio.Event()
        self._live = 0  # runs followed in the last round

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    # --- job lifecycle (called by the scheduler) ------------------------------------

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
            row = await asyncio.to_thread(self._job_row, job.job_id)
            parties = frozenset(node for _, _, node in job.parties()) - {self.node_id}
            await self.sessions.open(session_id(job.job_id), row.session_token, parties)
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
                row = self._driven_job(s, caller, job_id)
                if row.status == Status.FINISHED:
                    raise StateConflict(f"job {job_id} is FINISHED")
                if row.status == Status.READY:
                    row.status, row.updated_at = Status.RUNNING, now_ms()

        await asyncio.to_thread(_start)

    async def start_task(self, caller: str, job_id: str, task_id: str, task_name: str) -> None:
        check_id(job_id, "job_id")
        check_id(task_id, "task_id")
        check_id(task_name, "task_name")
        launches = await asyncio.to_thread(self._plan_task, caller, job_id, task_id, task_name)
        for row_key, run, runner in launches:
            problem = await asyncio.to_thread(self._prepare_input, run)
            if problem is None:
                problem = await asyncio.to_thread(self._stage, job_id, run)
            if problem is None:
                problem = await asyncio.to_thread(self._launch, row_key, run, runner)
            if problem is not None:
                outcome = Outcome(Status.FAILED, None, problem)
                report = await asyncio.to_thread(self._settle, *row_key, outcome)
                await asyncio.to_thread(self._discard, run.log_path)
                if report is not None and self.report is not None:
                    await self.report(report)
        self.wakeup.set()

    def _plan_task(
        self, caller: str, job_id: str, task_id: str, task_name: str
    ) -> list[tuple[tuple[str, str], TaskRun, str]]:
        """Write the task's rows (PENDING) and return what to launch; nothing when the
        task is known already (a retried start)."""
        with self.store.session() as s:
            job_row = self._driven_job(s, caller, job_id)
            if job_row.status == Status.FINISHED:
                raise StateConflict(f"job {job_id} is FINISHED; task {task_name} cannot start")
            if job_row.initiator_node_id == self.node_id and not submitted_here(
                self.store, job_id, load_document(job_row.document), job_row.scheduler_node_id
            ):
                raise NotFound(f"no job {job_id} submitted here")
            if job_row.status == Status.READY:
                job_row.status = Status.RUNNING
            known = s.query(LocalTaskRow).filter_by(task_id=task_id).all()
            if known:
                if known[0].job_id != job_id or known[0].task_name != task_name:
                    raise StateConflict(f"task id {task_id} belongs to another task")
                return []
            job = load_job(job_row.document)
            names = {c.name for c in job.components}
            if task_name not in names:
                raise NotFound(f"job {job_id} has no task {task_name!r}")
            dag = job.component(task_name)
            found = self.registry.resolve(dag.component_name, dag.provider, dag.version)
            if found is None or found.state != "ENABLED":
                raise ValidationFailed(
                    f"{task_name}: component {dag.component_name} {dag.version} is not "
                    "registered and enabled here"
                )
            ours = [
                (r, i) for r, i, n in job.parties() if n == self.node_id and r in found.spec.roles
            ]
            stamp = now_ms()
            timeout_s = int(
                job.job_params.get("common", {}).get("timeout") or self.settings.task_timeout_s
            )
            if not ours:
                s.add(
                    self._row(job_id, task_id, task_name, NO_PARTY, Status.SUCCESS, "none", stamp)
                )
                return []
            upstream = {
                r.task_name: r.task_id for r in s.query(LocalTaskRow).filter_by(job_id=job_id).all()
            }
            placement = self._placement(job_row, job, task_id)
            plans = []
            shared = local_root(self.settings.storage_url)
            for role, index in ours:
                party = f"{role}.{index}"
                log_path = inside(self.settings.logs_dir, job_id, task_id, f"{party}.log")
                env = container_env(
                    job,
                    task_name,
                    role,
                    index,
                    found.spec,
                    placement,
                    {**upstream, task_name: task_id},
                )
                if shared is not None:  # the task's own directory, not the node's root
                    env["system.storage"] = TaskStorage.of(shared, job_id, task_id, party).url
                resources = Resources.from_job_params(job.job_params.get(role, {}).get(str(index)))
                row = self._row(
                    job_id, task_id, task_name, party, Status.PENDING, found.runner, stamp
                )
                row.log_path = str(log_path)
                row.deadline_at = stamp + timeout_s * 1000
                s.add(row)
                run = TaskRun(task_id, env, log_path, found.image_url, resources, timeout_s)
                plans.append(((task_id, party), run, found.runner))
            return plans

    def _row(
        self, job_id: str, task_id: str, name: str, party: str, status: str, runner: str, at: int
    ) -> LocalTaskRow:
        return LocalTaskRow(
            task_id=task_id,
            party=party,
            job_id=job_id,
            task_name=name,
            status=status,
            runner=runner,
            handle="{}",
            log_path="",
            started_at=at,
            deadline_at=at,
            finished_at=at if status in st.TASK_DONE else None,
        )

    def _placement(self, job_row: JobRow, job: Job, task_id: str) -> Placement:
        inst_ids = {self.node_id: self.settings.inst_id}
        with self.store.session() as s:
            for _, _, node in job.parties():
                contract = self.store.contracts.active_for_peer(s, node)
                if contract is not None and contract.peer_inst_id:
                    inst_ids[node] = contract.peer_inst_id
        return Placement(
            storage_url=self.settings.storage_url,
            transport_address=self.settings.transport_address,
            callback_url=self.settings.callback_url,
            token=job_row.session_token,
            log_path=str(inside(self.settings.logs_dir, job.job_id, task_id)) if job.job_id else "",
            inst_ids=inst_ids,
        )

    def _prepare_input(self, run: TaskRun) -> str | None:
        """Write the registered dataset a first task reads where it reads it (after a
        drift check); the reason it cannot, if so."""
        if self.datasets is None:
            return None
        for name, value in run.env.items():
            if not name.startswith("runtime.component.input."):
                continue
            table = json.loads(value)
            try:
                self.datasets.prepare(f"{table['namespace']}#{table['name']}")
            except IsthmusError as exc:
                return exc.message
        return None

    def _storage_of(self, log_path: Path | str) -> tuple[TaskStorage, list[tuple[str, str]]] | None:
        """The task's own storage and declared outputs, from the record the node wrote
        beside its log at staging (None: the node's storage is not a local path)."""
        record = Path(log_path).with_suffix(".storage.json")
        try:
            return TaskStorage.from_json(record.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _stage(self, job_id: str, run: TaskRun) -> str | None:
        """Give the run its own storage directory, inputs copied in read-only; the
        reason it cannot, if so."""
        shared = local_root(self.settings.storage_url)
        if shared is None:
            return None
        party = run.env.get("config.self_role", "")
        storage = TaskStorage.of(shared, job_id, run.task_id, party)
        try:
            run.log_path.parent.mkdir(parents=True, exist_ok=True)
            run.log_path.with_suffix(".storage.json").write_text(storage.to_json(run.env))
            storage.prepare(run.env)
        except (IsthmusError, OSError) as exc:
            return f"could not prepare the task's storage: {getattr(exc, 'message', exc)}"
        return None

    def _publish(self, row: LocalTaskRow, outcome: Outcome) -> Outcome:
        """A run that succeeded hands its declared outputs to the node's storage; one
        whose outputs break the rules (a link, a device) fails instead."""
        found = self._storage_of(row.log_path)
        if found is None or outcome.status != Status.SUCCESS:
            return outcome
        storage, outputs = found
        try:
            storage.publish(outputs)
        except (IsthmusError, OSError) as exc:
            reason = f"outputs refused: {getattr(exc, 'message', exc)}"
            return Outcome(Status.FAILED, outcome.exit_code, reason)
        return outcome

    def _discard(self, log_path: Path | str) -> None:
        found = self._storage_of(log_path)
        if found is not None:
            try:
                found[0].discard()
            except OSError as exc:
                log.warning("could not remove task storage %s: %s", found[0].root, exc)

    def _launch(self, key: tuple[str, str], run: TaskRun, runner_name: str) -> str | None:
        """Start the run and record its handle; the reason it could not start, if so."""
        runner = self.runners.get(runner_name)
        handle: dict[str, Any] = {}
        reason = None
        if runner is None:
            reason = f"runner {runner_name!r} is not configured on node {self.node_id}"
        else:
            try:
                handle = runner.start(run)
            except (RunnerError, OSError) as exc:
                reason = f"could not start: {exc}"
        if reason is None:
            with self.store.session() as s:
                row = s.get(LocalTaskRow, key)
                if row is not None:
                    row.handle, row.status = json.dumps(handle), Status.RUNNING
        log.info("task %s party %s: %s", key[0], key[1], reason or "started")
        return reason

    async def stop(self, caller: str, job_id: str, task_name: str | None = None) -> int:
        """Stop ``task_name`` and its downstream, or every task and the job; returns how
        many runs were stopped."""
        check_id(job_id, "job_id")
        if task_name:
            check_id(task_name, "task_name")

        def _targets() -> list[LocalTaskRow]:
            with self.store.session() as s:
                job_row = self._driven_job(s, caller, job_id)
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
                asyncio.to_thread(self._stop_run, row, f"stopped by the scheduler ({caller})")
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
        rows = await asyncio.to_thread(self._task_rows, task_id)
        if not rows:
            raise NotFound(f"no task {task_id} here")
        await self.stop(caller, rows[0].job_id, rows[0].task_name)
        return len(rows)

    def _stop_run(self, row: LocalTaskRow, reason: str) -> None:
        runner = self.runners.get(row.runner)
        handle = json.loads(row.handle or "{}")
        if runner is not None and handle:
            try:
                runner.stop(handle, self.settings.stop_grace_s)
            except RunnerError as exc:
                log.warning("task %s party %s: stop failed: %s", row.task_id, row.party, exc)
        self._settle(row.task_id, row.party, Outcome(Status.FAILED, None, reason))
        self._release(row)
        self._discard(row.log_path)

    def _release(self, row: LocalTaskRow) -> None:
        runner = self.runners.get(row.runner)
        handle = json.loads(row.handle or "{}")
        if runner is None or not handle:
            return
        try:
            runner.release(handle)
        except RunnerError as exc:
            log.warning("task %s party %s: release failed: %s", row.task_id, row.party, exc)

    def _finish_job(self, job_id: str, reason: str) -> None:
        with self.store.session() as s:
            row = s.get(JobRow, job_id)
            if row is not None and row.status != Status.FINISHED:
                row.status, row.reason, row.updated_at = Status.FINISHED, reason, now_ms()

    # --- status -----------------------------------------------------------------------

    def _task_rows(self, task_id: str) -> list[LocalTaskRow]:
        with self.store.session() as s:
            return list(s.query(LocalTaskRow).filter_by(task_id=task_id).all())

    async def poll(self, caller: str, task_id: str, role: str = "") -> dict[str, Any]:
        check_id(task_id, "task_id")
        rows = await asyncio.to_thread(self._task_rows, task_id)
        if not rows:
            raise NotFound(f"no task {task_id} here")
        job_row = await asyncio.to_thread(self._job_row, rows[0].job_id)
        if caller not in (job_row.scheduler_node_id, self.node_id):
            raise NotFound(f"no task {task_id} here for node {caller}")
        wanted = [r for r in rows if _plays(r.party, role)] if role else rows
        if not wanted:
            raise NotFound(f"task {task_id} has no party of role {role!r} here")
        return self._answer(wanted)

    def _answer(self, rows: list[LocalTaskRow]) -> dict[str, Any]:
        result = st.aggregate(r.status for r in rows)
        answer: dict[str, Any] = {"status": result}
        failed = [r for r in rows if r.status == Status.FAILED]
        if failed:
            answer["reason"] = failed[0].reason or "failed"
            answer["party"] = failed[0].party
            if self.settings.share_log_tail:
                answer["log_tail"] = log_tail(failed[0].log_path)
        return answer

    def _job_row(self, job_id: str) -> JobRow:
        with self.store.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise NotFound(f"no job {job_id} here")
            return row

    def _driven_job(self, s: Any, caller: str, job_id: str) -> JobRow:
        row: JobRow | None = s.get(JobRow, job_id)
        if row is None:
            raise NotFound(f"no job {job_id} here")
        if caller not in (row.scheduler_node_id, self.node_id):
            raise NotFound(f"no job {job_id} here for node {caller}")
        return row

    # --- following runs ---------------------------------------------------------------

    def recover(self) -> int:
        """At start: a run written but never launched (the node died in between) cannot
        be found again; it fails, which fails the job cleanly. Launched runs are
        followed again through their handles by ``monitor_once``."""
        with self.store.session() as s:
            lost = (
                s.query(LocalTaskRow)
                .filter(LocalTaskRow.status == Status.PENDING, LocalTaskRow.handle == "{}")
                .all()
            )
            for row in lost:
                row.status, row.finished_at = Status.FAILED, now_ms()
                row.reason = "the node restarted before this task was launched"
            return len(lost)

    async def monitor_once(self) -> int:
        """Check every live run once; returns how many changed."""
        live = await asyncio.to_thread(self._live_rows)
        self._live = len(live)
        changed = 0
        for row in live:
            outcome = await asyncio.to_thread(self._check_run, row)
            if outcome is not None and outcome.status in st.TASK_DONE:
                outcome = await asyncio.to_thread(self._publish, row, outcome)
                report = await asyncio.to_thread(self._settle, row.task_id, row.party, outcome)
                await asyncio.to_thread(self._release, row)
                await asyncio.to_thread(self._discard, row.log_path)
                changed += 1
                if report is not None and self.report is not None:
                    await self.report(report)
        return changed

    def _live_rows(self) -> list[LocalTaskRow]:
        with self.store.session() as s:
            return list(
                s.query(LocalTaskRow)
                .filter(LocalTaskRow.status.in_((Status.RUNNING, Status.READY)))
                .all()
            )

    def _check_run(self, row: LocalTaskRow) -> Outcome | None:
        runner = self.runners.get(row.runner)
        if runner is None:
            return Outcome(Status.FAILED, None, f"runner {row.runner!r} is not configured here")
        handle = json.loads(row.handle or "{}")
        if now_ms() > row.deadline_at:
            timeout_s = (row.deadline_at - row.started_at) // 1000
            runner.stop(handle, self.settings.stop_grace_s)
            return Outcome(Status.FAILED, None, f"timed out after {timeout_s} s")
        try:
            return runner.status(handle)
        except RunnerError as exc:
            log.warning("task %s party %s: status unknown: %s", row.task_id, row.party, exc)
            return None

    def _settle(self, task_id: str, party: str, outcome: Outcome) -> Report | None:
        """Record a run's end (once: a terminal status never changes) and say what to
        report; the report covers the task's status across all our parties."""
        with self.store.session() as s:
            row = s.get(LocalTaskRow, (task_id, party))
            if row is None or not st.task_may_move(row.status, outcome.status):
                return None
            row.status, row.exit_code = outcome.status, outcome.exit_code
            row.reason, row.finished_at = outcome.reason, now_ms()
            s.flush()
            rows = s.query(LocalTaskRow).filter_by(task_id=task_id).all()
            job_row = s.get(JobRow, row.job_id)
            if job_row is None:  # pragma: no cover - tasks belong to jobs
                return None
            answer = self._answer(list(rows))
            sync = sync_type(load_document(job_row.document))
            log.info(
                "task %s party %s: %s %s", task_id, party, outcome.status, outcome.reason or ""
            )
            if answer["status"] not in st.TASK_DONE:
                return None  # another of our parties still runs
            return Report(
                job_id=row.job_id,
                scheduler_node_id=job_row.scheduler_node_id,
                sync_type=sync,
                task_id=task_id,
                role=party.split(".", 1)[0],
                status=answer["status"],
                reason=answer.get("reason"),
                log_tail=answer.get("log_tail"),
            )

    async def run_forever(self, interval_s: float = 0.05, idle_s: float = 1.0) -> None:
        """Every ``interval_s`` while runs are live, ``idle_s`` when none is (a task
        start or a container's callback wakes it at once)."""
        while True:
            try:
                await self.monitor_once()
            except Exception:
                log.exception("task monitor round failed")
            timeout = interval_s if self._live else idle_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=timeout)
            self.wakeup.clear()

    # --- what the node shows its own operators -----------------------------------------

    def jobs(self, flow_id: str | None = None) -> list[dict[str, Any]]:
        with self.store.session() as s:
            query = s.query(JobRow).order_by(JobRow.created_at.desc())
            if flow_id:
                query = query.filter_by(flow_id=flow_id)
            return [
                {
                    "job_id": r.job_id,
                    "flow_id": r.flow_id,
                    "status": r.status,
                    "scheduler": r.scheduler_node_id,
                    "initiator": r.initiator_node_id,
                    "created_at": r.created_at,
                }
                for r in query.all()
            ]

    def job(self, job_id: str) -> JobRow:
        return self._job_row(job_id)

    def local_tasks(self, job_id: str) -> list[dict[str, Any]]:
        with self.store.session() as s:
            rows = s.query(LocalTaskRow).filter_by(job_id=job_id).order_by(LocalTaskRow.started_at)
            return [_task_view(r) for r in rows.all()]

    def local_tasks_by_id(self, task_id: str) -> list[dict[str, Any]]:
        return [_task_view(r) for r in self._task_rows(task_id)]

    def read_log(self, task_id: str, log_level: str = "info") -> list[str]:
        """The log lines of our parties of a task, at ``log_level`` or above when a line
        says its level (components log ``<time> <LEVEL> <logger> <message>``)."""
        rows = [r for r in self._task_rows(task_id) if r.party != NO_PARTY]
        if not rows:
            raise NotFound(f"no task {task_id} here")
        lines: list[str] = []
        for row in rows:
            try:
                text = Path(row.log_path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            lines += [line for line in text.splitlines() if _at_level(line, log_level)]
        return lines


def _task_view(row: LocalTaskRow) -> dict[str, Any]:
    return {
        "task_id": row.task_id,
        "task_name": row.task_name,
        "party": row.party,
        "status": row.status,
        "reason": row.reason,
        "exit_code": row.exit_code,
        "runner": row.runner,
        "log_path": row.log_path,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
    }


_LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}


def _at_level(line: str, wanted: str) -> bool:
    floor = _LEVELS.get(wanted.lower(), 0)
    for token in line.split(" ", 4)[:4]:
        level = _LEVELS.get(token.lower())
        if level is not None and token.isupper():
            return level >= floor
    return True  # lines without a level (tracebacks, a vendor's output) always show


def _plays(party: str, role: str) -> bool:
    """FATE polls with ``role=""``, sends ``guest`` or ``guest.0``; all are fine."""
    return party == role or party.split(".", 1)[0] == role
