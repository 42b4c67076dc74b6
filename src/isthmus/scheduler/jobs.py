"""Jobs as this node's users see them, whichever role the node plays in each.

A job submitted here (north-south ``create_all``) names this node as initiator and is
scheduled here or, with ``scheduler``, by another node (east-west ``create_all`` to
it). Status, stop and the failure summary go to whoever schedules the job; the answer
looks the same either way. Reports of our own task runs go to the scheduler: directly
when it is this node, as ``task/callback`` through the outbox in callback mode.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from isthmus.peer.signing import NodeIdentity, sign_job_statement
from isthmus.scheduler.channel import PartyChannel
from isthmus.scheduler.coordinator import Coordinator
from isthmus.scheduler.outcomes import from_wire
from isthmus.scheduler.participant import Participant
from isthmus.scheduler.registry import unknown_parameters
from isthmus.scheduler.reports import Report, ReportHook, log_tail
from isthmus.scheduler.results import keep_result
from isthmus.scheduler.submissions import record_submission
from isthmus.store.db import Store
from isthmus.store.schema import JobRow, ScheduledJobRow
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.dag import InvalidJob, Job, parse_job
from isthmus.wire.errors import (
    NotFound,
    PeerRefused,
    PeerUnreachable,
    UnknownParameter,
    ValidationFailed,
)
from isthmus.wire.headers import INITIATOR_SIGN, MPRAC_TOKEN_SET
from isthmus.wire.ids import check_id
from isthmus.wire.mprac import TokenRef, format_token_set
from isthmus.wire.status import Status

#: The job-level switch that lets parameters no self-description declares through (a
#: vendor's extra keys): ``config.job_params.common.allow_unknown_params: true``.
ALLOW_UNKNOWN_PARAMS = "allow_unknown_params"


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex}"


def allows_unknown_params(job: Job) -> bool:
    """Whether the job opted out of the unknown-parameter check (only a real ``true``,
    or the string ``"true"`` a form may send, counts)."""
    common = job.job_params.get("common")
    flag = common.get(ALLOW_UNKNOWN_PARAMS) if isinstance(common, dict) else None
    return flag is True or (isinstance(flag, str) and flag.lower() == "true")


class JobService:
    """The node's jobs in one place: the participant, the coordinator and the channel
    between them, built here in the one order their cycle allows (the participant
    reports to this service, the channel calls the participant, the coordinator calls
    through the channel), so no part is wired after it was made."""

    def __init__(
        self,
        store: Store,
        participant: Callable[[ReportHook], Participant],
        coordinator: Callable[[Participant], Coordinator],
        enqueue: Callable[[str, str, dict[str, Any]], Awaitable[None]],
        permits: Callable[[Job], list[TokenRef]] | None = None,
        identity: NodeIdentity | None = None,
    ) -> None:
        """``participant`` builds this node's participant around the report hook it is
        given; ``coordinator`` builds the coordinator (and its channel) around that
        participant."""
        #: Signs the job statement that goes with the permits (``job_statement``).
        self.identity = identity
        #: The permits of ours a job needs at its partners (``x-mprac-token-set``).
        self.permits = permits
        self.store = store
        #: ``enqueue(node, path, body)``: a reliable signed call to a partner (outbox).
        self.enqueue = enqueue
        self.participant = participant(self.dispatch_report)
        self.coordinator = coordinator(self.participant)
        self.channel: PartyChannel = self.coordinator.channel

    @property
    def me(self) -> str:
        return self.channel.me

    async def submit(self, request: dict[str, Any], *, actor: str) -> str:
        """North-south ``create_all``: we are the initiator; ``scheduler`` (an Isthmus
        extension) names the scheduling node, this one by default. ``actor`` is the
        token behind the call, named in the submission's record."""
        document = {
            "job_id": request.get("job_id") or new_job_id(),
            "flow_id": request.get("flow_id") or "",
            "dag": request.get("dag"),
            "config": request.get("config"),
        }
        scheduler = str(request.get("scheduler") or self.me)
        initiator = (
            (document["config"] or {}).get("initiator", {})
            if isinstance(document["config"], dict)
            else {}
        )
        node = initiator.get("node_id") or initiator.get("nodeId")
        if node != self.me:
            raise ValidationFailed(
                f"config.initiator.node_id: {node!r} is not this node ({self.me}); a job is "
                "submitted on its initiator"
            )
        job = parse_job(document)  # every problem, each by its field, before anything is recorded
        check_id(scheduler, "scheduler")
        await asyncio.to_thread(self._refuse_unknown_params, job)
        # The record that makes this job ours: participants (this node among them)
        # accept "this node is the initiator" only for jobs recorded here.
        await asyncio.to_thread(
            record_submission,
            self.store,
            str(document["job_id"]),
            document,
            scheduler,
            actor,
        )
        token_set = await asyncio.to_thread(self._token_set, document)
        statement = ""
        if token_set and self.identity is not None:
            statement = sign_job_statement(
                self.identity, str(document["job_id"]), document, token_set
            )
        if scheduler == self.me:
            return await self.coordinator.create_all(self.me, document, token_set, statement)
        headers = {MPRAC_TOKEN_SET: token_set, INITIATOR_SIGN: statement} if token_set else None
        try:
            await self.channel.call(scheduler, paths.JOB_CREATE_ALL, document, headers=headers)
        except PeerRefused as exc:  # the scheduler's own words, without the HTTP noise
            raise ValidationFailed(
                f"scheduler {scheduler} refused the job: {exc.details.get('peer_msg')}",
                details={"scheduler": scheduler, "peer_code": exc.details.get("peer_code")},
            ) from exc
        except PeerUnreachable as exc:  # say which node, where, at once
            address = (exc.details or {}).get("address", "?")
            raise type(exc)(
                f"scheduler {scheduler} at {address} cannot be reached, nothing was "
                f"scheduled: {exc.message}",
                details={**(exc.details or {}), "node_id": scheduler},
            ) from exc
        return str(document["job_id"])

    def _refuse_unknown_params(self, job: Job) -> None:
        """Refuse, before anything is recorded or sent, parameters that the job's
        components do not declare (``registry.unknown_parameters``), unless the job opted
        out (``allow_unknown_params``)."""
        if allows_unknown_params(job):
            return
        problems = unknown_parameters(self.participant.registry, job)
        if problems:
            shown = "; ".join(str(p) for p in problems[:10])
            raise UnknownParameter(
                f"invalid job: {shown} (a vendor's own parameter: set "
                f"config.job_params.common.{ALLOW_UNKNOWN_PARAMS} to true)",
                details={"problems": [{"field": p.field, "message": p.message} for p in problems]},
            )

    def _token_set(self, document: dict[str, Any]) -> str:
        if self.permits is None:
            return ""
        try:
            job = parse_job(document)
        except InvalidJob:
            return ""  # the scheduler refuses it, naming every problem
        return format_token_set(self.permits(job))

    def _scheduler_of(self, job_id: str) -> str:
        with self.store.session() as s:
            if s.get(ScheduledJobRow, job_id) is not None:
                return self.me
            row = s.get(JobRow, job_id)
            if row is None:
                raise NotFound(f"no job {job_id} on this node")
            return row.scheduler_node_id

    async def status(self, job_id: str) -> dict[str, Any]:
        """The job as its scheduler sees it, told as the operator is shown it: an ended
        job SUCCESS, FAILED or STOPPED (``outcomes``), a stopped task STOPPED."""
        scheduler = await asyncio.to_thread(self._scheduler_of, job_id)
        if scheduler == self.me:
            return await asyncio.to_thread(self.coordinator.rows.status, job_id, self.me)
        data = await self.channel.call(
            scheduler, paths.JOB_STATUS_ALL, method="GET", params={"job_id": job_id}
        )
        truth = from_wire(dict(data or {}), await asyncio.to_thread(self._stop_asked, job_id))
        if truth.get("result"):  # learned on the way: kept (once) on our row
            reason = truth.get("reason")
            await asyncio.to_thread(
                keep_result, self.store, job_id, str(truth["result"]), reason and str(reason)
            )
        return truth

    def _stop_asked(self, job_id: str) -> bool:
        with self.store.session() as s:
            row = s.get(JobRow, job_id)
            return row is not None and row.stop_requested_at is not None

    def _ask_stop(self, job_id: str) -> None:
        with self.store.session() as s:
            row = s.get(JobRow, job_id)
            if row is not None and row.stop_requested_at is None:
                row.stop_requested_at = now_ms()

    async def stop(self, job_id: str, task_name: str | None = None) -> None:
        scheduler = await asyncio.to_thread(self._scheduler_of, job_id)
        if scheduler == self.me:
            await self.coordinator.stop_all(self.me, job_id, task_name)
            return
        await asyncio.to_thread(self._ask_stop, job_id)
        body: dict[str, Any] = {"job_id": job_id}
        if task_name:
            body["task_name"] = task_name
        await self.channel.call(scheduler, paths.JOB_STOP_ALL, body)

    async def why(self, job_id: str) -> dict[str, Any]:
        """The outcome of a job and, if it failed, where and why: each failed party's
        task, reason and the tail of its log, in one answer."""
        status = await self.status(job_id)
        failures = list(status.get("failures") or [])
        for failure in failures:
            if not failure.get("log_tail") and failure.get("node_id") == self.me:
                failure["log_tail"] = await asyncio.to_thread(
                    self._own_tail, str(failure.get("task_id") or "")
                )
        return {
            "job_id": job_id,
            "job_status": status.get("job_status"),
            "result": status.get("job_status"),
            "reason": status.get("reason"),
            "scheduler": status.get("scheduler"),
            "tasks": status.get("tasks") or [],
            "failures": failures,
        }

    def _own_tail(self, task_id: str) -> str:
        for task in self.participant.views.local_tasks_by_id(task_id):
            if task["status"] == Status.FAILED:
                return log_tail(task["log_path"])
        return ""

    def job_list(self, flow_id: str | None = None) -> dict[str, str]:
        """Job id → status as the operator sees it (``views.jobs`` has the details)."""
        return {j["job_id"]: j["status"] for j in self.participant.views.jobs(flow_id)}

    async def dispatch_report(self, report: Report) -> None:
        if report.scheduler_node_id == self.me:
            await self.coordinator.receive_report(
                self.me,
                report.task_id,
                report.role,
                report.status,
                report.reason,
                report.log_tail,
            )
        elif report.sync_type == "callback":
            await self.enqueue(
                report.scheduler_node_id, paths.TASK_CALLBACK, report.callback_body()
            )
