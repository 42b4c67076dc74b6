"""The scheduler's bookkeeping: its rows of a job (the job, each party, each task and
each task's parties) and every change to them, each in one transaction.

What is written here is what a restarted scheduler carries on from: a job's status
moves only as ``status.job_may_move`` allows, a party's as ``task_may_move`` allows, so
a late or repeated report cannot undo a decision. The calls to parties and the loop
that makes these changes are the ``Coordinator``'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from isthmus.scheduler import status as st
from isthmus.scheduler.container_env import task_id as make_task_id
from isthmus.scheduler.job_status import scheduled_status
from isthmus.scheduler.jobdoc import job_row, load_document, load_job, same_job
from isthmus.scheduler.registry import ComponentRegistry
from isthmus.scheduler.settle import Verdict, settle_tasks
from isthmus.store.db import Store
from isthmus.store.schema import (
    ScheduledJobPartyRow,
    ScheduledJobRow,
    ScheduledTaskPartyRow,
    ScheduledTaskRow,
)
from isthmus.wire.clock import now_ms
from isthmus.wire.dag import Job
from isthmus.wire.errors import NotFound, PeerError, PeerRefused, PeerUnreachable, StateConflict
from isthmus.wire.status import Status

#: Added to a task's own timeout before the scheduler gives up waiting for its status.
DEADLINE_GRACE_MS = 30_000


@dataclass(frozen=True)
class CoordinatorSettings:
    poll_interval_s: float = 0.1
    #: In callback mode, a slow poll still runs in case a callback was lost.
    callback_safety_poll_s: float = 5.0
    party_timeout_s: float = 120.0
    task_timeout_s: int = 86400


@dataclass
class Call:
    """One call to one party and how it went."""

    node: str
    ok: bool
    data: Any = None
    error: PeerError | None = None


class Ledger:
    def __init__(
        self, store: Store, registry: ComponentRegistry, settings: CoordinatorSettings
    ) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings

    def record(self, job: Job, wanted: dict[str, Any], token_set: str, initiator_sign: str) -> None:
        assert job.job_id is not None
        with self.store.session() as s:
            row = s.get(ScheduledJobRow, job.job_id)
            if row is not None:
                if not same_job(load_document(row.document), wanted):
                    raise StateConflict(f"job {job.job_id} exists with another DAG or config")
                if row.status in st.JOB_DONE:
                    raise StateConflict(
                        f"job {job.job_id} is {row.status}; submit it under a new job id"
                    )
                return  # a retried create_all of a live job
            stamp = now_ms()
            s.add(
                ScheduledJobRow(
                    job_id=job.job_id,
                    flow_id=job.flow_id or "",
                    initiator_node_id=job.initiator_node,
                    document=json.dumps(wanted),
                    status=Status.PENDING,
                    sync_type=job.sync_type,
                    created_at=stamp,
                    updated_at=stamp,
                    mprac_token_set=token_set,
                    initiator_sign=initiator_sign,
                )
            )
            for node in job_nodes(job):
                s.add(ScheduledJobPartyRow(job_id=job.job_id, node_id=node))
            for component in job.components:
                s.add(
                    ScheduledTaskRow(
                        job_id=job.job_id, task_name=component.name, status=Status.PENDING
                    )
                )
                for node, role in self.players(job, component.name):
                    s.add(
                        ScheduledTaskPartyRow(
                            job_id=job.job_id,
                            task_name=component.name,
                            node_id=node,
                            role=role,
                            status=Status.PENDING,
                            updated_at=stamp,
                        )
                    )
            self.store.audit.append(
                s,
                actor=f"peer:{job.initiator_node}",
                action="job.scheduled",
                subject=job.job_id,
                outcome="ok",
                details={"parties": job_nodes(job), "tasks": [c.name for c in job.components]},
            )

    def players(self, job: Job, task_name: str) -> list[tuple[str, str]]:
        """(node, role) pairs that run a task: the roles the component plays, when this
        node knows the component; otherwise every role (a party without a part in it
        answers SUCCESS)."""
        dag = job.component(task_name)
        found = self.registry.resolve(dag.component_name, dag.provider, dag.version)
        roles = set(found.spec.roles) if found is not None else set(job.roles)
        pairs = {(node, role) for role, _, node in job.parties() if role in roles}
        return sorted(pairs)

    def stop_tasks(self, job: Job, names: set[str], caller: str) -> list[str]:
        """The tasks ``names`` and their parties STOPPED (those not ended); returns the
        nodes that started one of them (the ones to send ``job/stop``)."""
        assert job.job_id is not None
        with self.store.session() as s:
            nodes = {
                p.node_id
                for p in s.query(ScheduledTaskPartyRow).filter_by(job_id=job.job_id)
                if p.task_name in names and p.started
            }
            settle_tasks(s, job.job_id, f"stopped by {caller}", names)
            return sorted(nodes)

    def update_party(
        self,
        node: str,
        task_id: str,
        role: str,
        status: str,
        reason: str | None,
        log_tail: str | None,
    ) -> bool:
        with self.store.session() as s:
            task = s.query(ScheduledTaskRow).filter_by(task_id=task_id).one_or_none()
            if task is None:
                return False
            parties = (
                s.query(ScheduledTaskPartyRow)
                .filter_by(job_id=task.job_id, task_name=task.task_name, node_id=node)
                .all()
            )
            role_name = role.split(".", 1)[0]
            wanted = [p for p in parties if not role_name or p.role == role_name] or parties
            for party in wanted:
                if st.task_may_move(party.status, status):
                    party.status, party.updated_at = status, now_ms()
                    if status in (Status.FAILED, Status.STOPPED):
                        party.reason = (reason or "failed")[:2000]
                        party.log_tail = (log_tail or "")[:4000]
            return bool(parties)

    def status(self, job_id: str, me: str, caller: str | None = None) -> dict[str, Any]:
        """The job as its scheduler sees it (``job_status.scheduled_status``); a caller
        that is not one of its nodes is told there is no such job."""
        with self.store.session() as s:
            row = s.get(ScheduledJobRow, job_id)
            if row is None:
                raise NotFound(f"no job {job_id} scheduled here")
            job = load_job(row.document)
            if caller is not None and caller != me and caller not in job_nodes(job):
                raise NotFound(f"no job {job_id} scheduled here for node {caller}")
            return scheduled_status(s, row, job, me)

    def job_row(self, job_id: str) -> ScheduledJobRow:
        return job_row(self.store, ScheduledJobRow, job_id, f"no job {job_id} scheduled here")

    def job(self, job_id: str) -> Job:
        return load_job(self.job_row(job_id).document)

    def live_jobs(self) -> list[str]:
        with self.store.session() as s:
            rows = s.query(ScheduledJobRow.job_id).filter(
                ScheduledJobRow.status.in_((Status.PENDING, Status.READY, Status.RUNNING))
            )
            return [r[0] for r in rows.all()]

    def note_reachability(self, job: Job, calls: list[Call]) -> None:
        with self.store.session() as s:
            for call in calls:
                party = s.get(ScheduledJobPartyRow, (job.job_id, call.node))
                if party is None:
                    continue
                if isinstance(call.error, PeerUnreachable):
                    party.unreachable_since = party.unreachable_since or now_ms()
                else:
                    party.unreachable_since = None

    def given_up(self, job: Job) -> str | None:
        """A party silent for longer than ``party_timeout_s``, if any."""
        limit = now_ms() - int(self.settings.party_timeout_s * 1000)
        with self.store.session() as s:
            for party in s.query(ScheduledJobPartyRow).filter_by(job_id=job.job_id).all():
                if party.unreachable_since is not None and party.unreachable_since < limit:
                    return party.node_id
        return None

    def ready_tasks(self, job: Job) -> list[tuple[str, str, list[str]]]:
        assert job.job_id is not None
        with self.store.session() as s:
            tasks = {t.task_name: t for t in s.query(ScheduledTaskRow).filter_by(job_id=job.job_id)}
            parties = s.query(ScheduledTaskPartyRow).filter_by(job_id=job.job_id).all()
            plan = []
            for component in job.components:
                task = tasks[component.name]
                if task.status in st.TASK_DONE:
                    continue
                if any(tasks[up].status != Status.SUCCESS for up in component.upstream()):
                    continue
                if task.task_id is None:
                    stamp = now_ms()
                    timeout_ms = (
                        int(
                            job.job_params.get("common", {}).get("timeout")
                            or self.settings.task_timeout_s
                        )
                        * 1000
                    )
                    task.task_id = make_task_id(job, component.name)
                    task.status, task.started_at = Status.RUNNING, stamp
                    task.deadline_at = stamp + timeout_ms + DEADLINE_GRACE_MS
                nodes = sorted(
                    {p.node_id for p in parties if p.task_name == component.name and not p.started}
                )
                if nodes:
                    plan.append((component.name, task.task_id, nodes))
            return plan

    def task_started(self, job: Job, task_name: str, calls: list[Call]) -> None:
        with self.store.session() as s:
            parties = (
                s.query(ScheduledTaskPartyRow)
                .filter_by(job_id=job.job_id, task_name=task_name)
                .all()
            )
            for call in calls:
                for party in (p for p in parties if p.node_id == call.node):
                    if call.ok:
                        party.started = True
                        if st.task_may_move(party.status, Status.RUNNING):
                            party.status = Status.RUNNING
                    elif isinstance(call.error, PeerRefused):
                        party.status = Status.FAILED
                        party.reason = f"task/start refused: {peer_message(call.error)}"[:2000]
                    party.updated_at = now_ms()

    def pollable(self, job_id: str) -> list[tuple[str, str, str]]:
        with self.store.session() as s:
            ids = {
                t.task_name: t.task_id
                for t in s.query(ScheduledTaskRow).filter_by(job_id=job_id)
                if t.task_id is not None and t.status not in st.TASK_DONE
            }
            return [
                (p.node_id, p.role, ids[p.task_name])
                for p in s.query(ScheduledTaskPartyRow).filter_by(job_id=job_id).all()
                if p.task_name in ids and p.started and p.status not in st.TASK_DONE
            ]

    def fold(self, job: Job) -> Verdict | None:
        """None while the job goes on; else what it came to: FAILED (with the first
        failure) as soon as a task failed, else, once every task ended or can never
        start, SUCCESS when all succeeded, STOPPED when one was stopped."""
        with self.store.session() as s:
            tasks = {t.task_name: t for t in s.query(ScheduledTaskRow).filter_by(job_id=job.job_id)}
            parties = s.query(ScheduledTaskPartyRow).filter_by(job_id=job.job_id).all()
            failure: str | None = None
            stamp = now_ms()
            for component in job.components:
                task = tasks[component.name]
                if task.status in st.TASK_DONE or task.task_id is None:
                    continue
                own = [p for p in parties if p.task_name == component.name]
                folded = st.aggregate(p.status for p in own)
                if folded == Status.FAILED:
                    bad = next(p for p in own if p.status == Status.FAILED)
                    task.reason = f"{bad.node_id} ({bad.role}): {bad.reason or 'failed'}"
                    failure = failure or f"task {component.name} failed on {task.reason}"
                elif task.deadline_at is not None and stamp > task.deadline_at:
                    folded = Status.FAILED
                    task.reason = "no final status before the task's deadline"
                    failure = failure or f"task {component.name}: {task.reason}"
                if folded in st.TASK_DONE:
                    task.status, task.finished_at = folded, stamp
            if failure is not None:
                return Verdict(Status.FAILED, failure)
            blocked = self.blocked(job, tasks)
            if not all(t.status in st.TASK_DONE or t.task_name in blocked for t in tasks.values()):
                return None
            ended = [tasks[c.name] for c in job.components]
            for word in (Status.FAILED, Status.STOPPED):
                for task in (t for t in ended if t.status == word):
                    return Verdict(word, f"task {task.task_name}: {task.reason or word}")
            return Verdict(Status.SUCCESS, None)

    @staticmethod
    def blocked(job: Job, tasks: dict[str, ScheduledTaskRow]) -> set[str]:
        """Tasks that can never start: downstream of a failed or stopped task."""
        blocked: set[str] = set()
        for name, task in tasks.items():
            if task.status in (Status.FAILED, Status.STOPPED):
                blocked |= job.downstream(name)
        return blocked

    def close(self, job_id: str, verdict: Verdict) -> bool:
        """FINISHED (the spec's word) with ``verdict`` kept as its result; every task
        and party not ended yet STOPPED. False when the job had ended already."""
        with self.store.session() as s:
            row = s.get(ScheduledJobRow, job_id)
            if row is None or row.status in st.JOB_DONE:
                return False
            stamp = now_ms()
            row.status, row.result, row.reason = Status.FINISHED, verdict.result, verdict.reason
            row.updated_at = row.finished_at = stamp
            why: dict[str, str | None] = {
                Status.FAILED: "the job failed",
                Status.STOPPED: verdict.reason,
            }
            settle_tasks(s, job_id, why.get(verdict.result) or "the job ended")
            self.store.audit.append(
                s,
                actor="system:scheduler",
                action="job.finished",
                subject=job_id,
                outcome="ok" if verdict.result == Status.SUCCESS else "failed",
                details={"result": verdict.result, "reason": verdict.reason or ""},
            )
            return True

    def parties_where(self, job_id: str, flag: str, value: bool) -> list[str]:
        with self.store.session() as s:
            rows = s.query(ScheduledJobPartyRow).filter_by(job_id=job_id).all()
            return sorted(r.node_id for r in rows if bool(getattr(r, flag)) == value)

    def mark_parties(self, job_id: str, nodes: list[str], flag: str) -> None:
        with self.store.session() as s:
            for node in nodes:
                row = s.get(ScheduledJobPartyRow, (job_id, node))
                if row is not None:
                    setattr(row, flag, True)

    def set_job(self, job_id: str, status: str, reason: str | None) -> None:
        with self.store.session() as s:
            row = s.get(ScheduledJobRow, job_id)
            if row is not None and st.job_may_move(row.status, status):
                row.status, row.reason, row.updated_at = status, reason, now_ms()
                if status == Status.RUNNING:
                    row.started_at = row.updated_at
                if status == Status.REJECTED:
                    row.result, row.finished_at = Status.REJECTED, row.updated_at
                    settle_tasks(s, job_id, "the job was rejected")


def job_nodes(job: Job) -> list[str]:
    return sorted({node for _, _, node in job.parties()})


def peer_message(error: PeerError | None) -> str:
    if error is None:
        return ""
    peer_msg = error.details.get("peer_msg") if error.details else None
    return str(peer_msg or error.message)[:500]
