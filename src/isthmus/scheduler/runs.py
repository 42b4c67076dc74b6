"""A participant's task runs: planned (rows written before anything starts), launched
through the component's runner (input prepared, storage staged, handle recorded right
after), followed until they end (exit codes, timeouts), stopped and released.

Every final status is settled once (a terminal status never changes) and becomes a
``Report`` for the job's scheduler, through the hook the participant was built with; its
duration goes to ``ended`` (``RunEnded``: the node's metrics) when one was given.
A failed run's reason names its exit code and quotes the component's own message
(``exit_codes``); a run stopped on purpose is STOPPED, never FAILED with 143.
A run written but never launched (the node died in between) fails at ``recover``;
launched runs are followed again through their handles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from isthmus.scheduler import status as st
from isthmus.scheduler.container_env import Placement, container_env
from isthmus.scheduler.container_specs import Resources
from isthmus.scheduler.exit_codes import failure_reason
from isthmus.scheduler.jobdoc import load_document, load_job, sync_type
from isthmus.scheduler.registry import ComponentRegistry
from isthmus.scheduler.reports import Report, ReportHook
from isthmus.scheduler.run_storage import discard_storage, publish_outputs, stage_run
from isthmus.scheduler.runners import Outcome, Runner, RunnerError, TaskRun
from isthmus.scheduler.submissions import submitted_here
from isthmus.scheduler.task_storage import TaskStorage, local_root
from isthmus.scheduler.views import NO_PARTY, answer, driven_job
from isthmus.store.db import Store
from isthmus.store.schema import JobRow, LocalTaskRow
from isthmus.wire.clock import now_ms
from isthmus.wire.dag import Job
from isthmus.wire.errors import IsthmusError, NotFound, StateConflict, ValidationFailed
from isthmus.wire.ids import inside
from isthmus.wire.logcontext import bind, current
from isthmus.wire.status import Status

log = logging.getLogger(__name__)

#: One run to launch: its row's key (task id, party), the run, the runner's name.
Launch = tuple[tuple[str, str], TaskRun, str]
#: Told of each run's end: its component's name, its status, its seconds (the node's
#: metrics; labels stay bounded: no task id).
RunEnded = Callable[[str, str, float], None]


class DatasetAccess(Protocol):
    """Registered datasets, written where tasks read them just before a task starts."""

    def prepare(self, dataset_id: str) -> None: ...


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


class Runs:
    def __init__(
        self,
        store: Store,
        registry: ComponentRegistry,
        runners: Mapping[str, Runner],
        settings: ParticipantSettings,
        datasets: DatasetAccess | None = None,
        report: ReportHook | None = None,
        ended: RunEnded | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.runners = runners
        self.settings = settings
        self.datasets = datasets
        #: Where a task's final status goes (to its scheduler, through the job service).
        self.report = report
        self.ended = ended
        self.wakeup = asyncio.Event()
        self._live = 0  # runs followed in the last round

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    async def launch(self, job_id: str, launches: list[Launch]) -> None:
        """Start each planned run: its input written, its storage staged, its runner
        started; a run that cannot start fails at once and is reported."""
        outer = current()
        for row_key, run, runner in launches:
            bind(job_id, run.task_id)  # this run's log lines carry its ids
            problem = await asyncio.to_thread(self._prepare_input, run)
            if problem is None:
                problem = await asyncio.to_thread(stage_run, self.settings.storage_url, job_id, run)
            if problem is None:
                problem = await asyncio.to_thread(self._launch, row_key, run, runner)
            if problem is not None:
                outcome = Outcome(Status.FAILED, None, problem)
                report = await asyncio.to_thread(self.settle, *row_key, outcome)
                await asyncio.to_thread(discard_storage, run.log_path)
                if report is not None and self.report is not None:
                    await self.report(report)
        bind(*outer)
        self.wakeup.set()

    def plan(self, caller: str, job_id: str, task_id: str, task_name: str) -> list[Launch]:
        """Write the task's rows (PENDING) and return what to launch; nothing when the
        task is known already (a retried start)."""
        with self.store.session() as s:
            job_row = driven_job(s, self.node_id, caller, job_id)
            if job_row.status == Status.FINISHED:
                raise StateConflict(f"job {job_id} is FINISHED; task {task_name} cannot start")
            if job_row.initiator_node_id == self.node_id and not submitted_here(
                self.store, job_id, load_document(job_row.document), job_row.scheduler_node_id
            ):
                raise NotFound(f"no job {job_id} submitted here")
            if job_row.status == Status.READY:
                job_row.status = Status.RUNNING
                job_row.started_at = job_row.started_at or now_ms()
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

    def stop_run(self, row: LocalTaskRow, reason: str) -> None:
        """STOPPED, settled before the run is signalled: the exit code our own SIGTERM
        causes (143) can then never make it FAILED."""
        self.settle(row.task_id, row.party, Outcome(Status.STOPPED, None, reason))
        runner = self.runners.get(row.runner)
        handle = json.loads(row.handle or "{}")
        if runner is not None and handle:
            try:
                runner.stop(handle, self.settings.stop_grace_s)
            except RunnerError as exc:
                log.warning("task %s party %s: stop failed: %s", row.task_id, row.party, exc)
        self._release(row)
        discard_storage(row.log_path)

    def _release(self, row: LocalTaskRow) -> None:
        runner = self.runners.get(row.runner)
        handle = json.loads(row.handle or "{}")
        if runner is None or not handle:
            return
        try:
            runner.release(handle)
        except RunnerError as exc:
            log.warning("task %s party %s: release failed: %s", row.task_id, row.party, exc)

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
        outer = current()
        for row in live:
            bind(row.job_id, row.task_id)  # this run's log lines carry its ids
            outcome = await asyncio.to_thread(self._check_run, row)
            if outcome is not None and outcome.status in st.TASK_DONE:
                if outcome.status == Status.FAILED and outcome.exit_code:
                    reason = await asyncio.to_thread(
                        failure_reason, outcome.exit_code, row.log_path
                    )
                    outcome = Outcome(outcome.status, outcome.exit_code, reason)
                outcome = await asyncio.to_thread(publish_outputs, row.log_path, outcome)
                report = await asyncio.to_thread(self.settle, row.task_id, row.party, outcome)
                await asyncio.to_thread(self._release, row)
                await asyncio.to_thread(discard_storage, row.log_path)
                changed += 1
                if report is not None and self.report is not None:
                    await self.report(report)
        bind(*outer)
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

    def settle(self, task_id: str, party: str, outcome: Outcome) -> Report | None:
        """Record a run's end (once: a terminal status never changes) and say what to
        report; the report covers the task's status across all our parties."""
        with self.store.session() as s:
            row = s.get(LocalTaskRow, (task_id, party))
            if row is None or not st.task_may_move(row.status, outcome.status):
                return None
            row.status, row.exit_code = outcome.status, outcome.exit_code
            row.reason, row.finished_at = outcome.reason, (stamp := now_ms())
            s.flush()
            rows = s.query(LocalTaskRow).filter_by(task_id=task_id).all()
            job_row = s.get(JobRow, row.job_id)
            if job_row is None:  # pragma: no cover - tasks belong to jobs
                return None
            found = answer(list(rows), self.settings.share_log_tail)
            if self.ended is not None:
                dag = load_job(job_row.document).component(row.task_name)
                self.ended(dag.component_name, outcome.status, (stamp - row.started_at) / 1e3)
            sync = sync_type(load_document(job_row.document))
            log.info(
                "task %s party %s: %s %s", task_id, party, outcome.status, outcome.reason or ""
            )
            if found["status"] not in st.TASK_DONE:
                return None  # another of our parties still runs
            return Report(
                job_id=row.job_id,
                scheduler_node_id=job_row.scheduler_node_id,
                sync_type=sync,
                task_id=task_id,
                role=party.split(".", 1)[0],
                status=found["status"],
                reason=found.get("reason"),
                log_tail=found.get("log_tail"),
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
