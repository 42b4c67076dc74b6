"""The scheduler's side of a job (digest §2.1 to §2.4): the node that runs a job across its
parties, whether it is the initiator, another party, or a third node.

A job moves PENDING → READY → RUNNING → FINISHED (or PENDING → REJECTED), each step
written to the database before and after the calls it needs, so a scheduler restarted
at any point carries on from what is written (every call it repeats is idempotent on
the participant). One loop (``run_forever``) advances every live job:

* PENDING: ``job/create`` to every party not yet created. A refusal rejects the job
  (and stops it where it was created); ``create_all`` waits for this step.
* READY: ``job/start`` once per node.
* RUNNING: every task whose upstream all succeeded gets its id and a ``task/start`` to
  each node playing it (independent tasks at once); statuses come from ``task/poll``
  (poll mode) or ``task/callback`` (callback mode, with a slow poll as a safety net).
  A party's FAILED fails the job: ``job/stop`` to everyone, FINISHED with the result
  FAILED. When every task succeeded, the same fan-out closes the job (spec step 5),
  result SUCCESS; a stop ends it STOPPED. Tasks not ended then are STOPPED.

A party that does not answer for ``party_timeout_s`` fails the job; a task with no
final status by its deadline fails too. ``stop_all`` with a task name stops that task
and its downstream (other branches go on); without, the whole job.

Stops travel through the outbox: a participant that is down receives its stop when it
comes back. What each step writes, and reads back, is the ledger's (``ledger.Ledger``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from isthmus.scheduler import status as st
from isthmus.scheduler.channel import PartyChannel
from isthmus.scheduler.jobdoc import job_document, load_document, load_job
from isthmus.scheduler.ledger import Call, CoordinatorSettings, Ledger, job_nodes, peer_message
from isthmus.scheduler.outcomes import shown, to_wire
from isthmus.scheduler.refusals import refusal_of, rejection
from isthmus.scheduler.registry import ComponentRegistry
from isthmus.scheduler.results import ResultLearner
from isthmus.scheduler.settle import Verdict
from isthmus.store.db import Store
from isthmus.store.schema import (
    ScheduledJobRow,
)
from isthmus.wire import paths
from isthmus.wire.dag import Job, parse_job
from isthmus.wire.errors import (
    NotFound,
    PeerError,
    PeerRefused,
    ValidationFailed,
)
from isthmus.wire.headers import INITIATOR_SIGN, MPRAC_TOKEN_SET
from isthmus.wire.ids import check_id
from isthmus.wire.logcontext import bind
from isthmus.wire.status import Status

log = logging.getLogger(__name__)

#: The loop's pace with nothing to do (anything that makes work wakes it at once).
IDLE_S = 1.0


class Coordinator:
    """The scheduler's requests (create_all, stop_all, reports, status) and the loop
    that advances its jobs; what they write goes through ``rows`` (``ledger``)."""

    def __init__(
        self,
        store: Store,
        registry: ComponentRegistry,
        channel: PartyChannel,
        settings: CoordinatorSettings,
        enqueue_stop: Callable[[str, dict[str, Any]], Awaitable[None]],
    ) -> None:
        self.store = store
        self.registry = registry
        self.channel = channel
        self.settings = settings
        #: Sends ``job/stop`` to a remote node reliably (the node wires the outbox in).
        self.enqueue_stop = enqueue_stop
        #: The bookkeeping on this scheduler's rows (jobs, parties, tasks).
        self.rows = Ledger(store, registry, settings)
        #: What the jobs this node took part in came to, asked of their schedulers.
        self.results = ResultLearner(store, channel)
        self.wakeup = asyncio.Event()
        self._last_poll: dict[str, float] = {}
        self._lock = asyncio.Lock()

    @property
    def me(self) -> str:
        return self.channel.me

    async def create_all(
        self,
        initiator: str,
        document: dict[str, Any],
        token_set: str = "",
        initiator_sign: str = "",
    ) -> str:
        """Validate, record and create the job on every party; returns its id once all
        accepted, or raises the first party's refusal (the job is then REJECTED)."""
        wanted = job_document(document)
        job = parse_job(wanted)
        if not job.job_id:
            raise ValidationFailed("job_id: is required (the initiator generates it)")
        check_id(job.job_id, "job_id")
        if initiator != job.initiator_node:
            raise ValidationFailed(
                f"config.initiator.node_id: {job.initiator_node!r} is not the caller {initiator}"
            )
        await asyncio.to_thread(self.rows.record, job, wanted, token_set, initiator_sign)
        async with self._lock:
            failed = await self._create(job, first=True)
        row = await asyncio.to_thread(self.rows.job_row, job.job_id)
        if row.status == Status.REJECTED:
            raise rejection(job.job_id, row.reason, failed)
        self.wakeup.set()
        return job.job_id

    async def stop_all(self, caller: str, job_id: str, task_name: str | None = None) -> None:
        job = await asyncio.to_thread(self.rows.job, job_id)
        if caller != self.me and caller not in job_nodes(job):
            raise NotFound(f"no job {job_id} here for node {caller}")
        async with self._lock:
            if task_name:
                if task_name not in {c.name for c in job.components}:
                    raise NotFound(f"job {job_id} has no task {task_name!r}")
                names = {task_name} | job.downstream(task_name)
                nodes = await asyncio.to_thread(self.rows.stop_tasks, job, names, caller)
                await self._fan_out_stop(job, nodes, task_name)
                await self._settle(job)
            else:
                await self._finish(job, Verdict(Status.STOPPED, f"stopped by {caller}"))

    async def receive_report(
        self,
        node: str,
        task_id: str,
        role: str,
        status: str,
        reason: str | None = None,
        log_tail: str | None = None,
    ) -> None:
        """A party's status of a task (``task/callback``, or this node's own party)."""
        normalized = st.normalize_task_status(status)
        if normalized is None:
            raise ValidationFailed(f"status {status!r} is not a task status")
        updated = await asyncio.to_thread(
            self.rows.update_party, node, task_id, role, normalized, reason, log_tail
        )
        if not updated:
            raise NotFound(f"no task {task_id} of node {node} here")
        self.wakeup.set()

    def status_all(self, job_id: str, caller: str | None = None) -> dict[str, Any]:
        """East-west ``status_all``: ``job_status``, ``status`` (task name → status) in
        the spec's words, plus what Isthmus adds (``Ledger.status``, through
        ``outcomes.to_wire``); ``caller``, when given, must be a party."""
        return to_wire(self.rows.status(job_id, self.me, caller))

    def job_list(self, flow_id: str | None = None) -> dict[str, str]:
        """The jobs scheduled here, each with its status as the operator sees it."""
        with self.store.session() as s:
            query = s.query(ScheduledJobRow)
            if flow_id:
                query = query.filter_by(flow_id=flow_id)
            return {r.job_id: shown(r.status, r.result) for r in query.all()}

    async def run_forever(self) -> None:
        """Rounds every ``poll_interval_s`` while jobs are live, every ``IDLE_S`` when
        none is (a new job, a report or a stop wakes the loop at once)."""
        while True:
            live = 0
            try:
                live = await self.tick()
                await self.results.once()
            except Exception:
                log.exception("scheduler round failed")
            timeout = self.settings.poll_interval_s if live else IDLE_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=timeout)
            self.wakeup.clear()

    async def tick(self) -> int:
        """Advance every live job once; returns how many were live."""
        live = await asyncio.to_thread(self.rows.live_jobs)
        async with self._lock:
            await asyncio.gather(*(self._advance(job_id) for job_id in live))
        return len(live)

    async def _advance(self, job_id: str) -> None:
        bind(job_id)  # a task of its own (gather): its log lines, and only they, carry it
        try:
            row = await asyncio.to_thread(self.rows.job_row, job_id)
            job = load_job(row.document)
            if row.status == Status.PENDING:
                await self._create(job)
            elif row.status == Status.READY:
                await self._start(job)
            elif row.status == Status.RUNNING:
                await self._dispatch(job)
                await self._poll(job, row.sync_type)
                await self._settle(job)
                await self._dispatch(job)  # what the settled tasks just unblocked, now
        except Exception:
            log.exception("job %s: scheduling round failed", job_id)

    async def _fan_out(
        self,
        job: Job,
        nodes: list[str],
        path: str,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> list[Call]:
        async def one(node: str) -> Call:
            try:
                data = await self.channel.call(node, path, body, headers=headers)
                return Call(node, True, data)
            except PeerError as exc:
                return Call(node, False, error=exc)
            except Exception as exc:  # this node's own participant refusing
                return Call(node, False, error=PeerRefused(getattr(exc, "message", str(exc))))

        calls = list(await asyncio.gather(*(one(n) for n in nodes)))
        await asyncio.to_thread(self.rows.note_reachability, job, calls)
        return calls

    async def _create(self, job: Job, *, first: bool = False) -> list[Call]:
        """``job/create`` on the parties not created yet; the calls that failed. On the
        ``first`` round (the submission waiting for it), a party no connection can be
        made to rejects the job at once (``refusals``), not after ``party_timeout_s``."""
        assert job.job_id is not None
        pending = await asyncio.to_thread(self.rows.parties_where, job.job_id, "created", False)
        row = await asyncio.to_thread(self.rows.job_row, job.job_id)
        document = load_document(row.document)
        body = {"job_id": job.job_id, "flow_id": job.flow_id or ""}
        body.update(dag=document["dag"], config=document["config"])
        headers = None
        if row.mprac_token_set:
            headers = {MPRAC_TOKEN_SET: row.mprac_token_set}
            if row.initiator_sign:
                headers[INITIATOR_SIGN] = row.initiator_sign
        calls = await self._fan_out(job, pending, paths.JOB_CREATE, body, headers)
        await asyncio.to_thread(
            self.rows.mark_parties, job.job_id, [c.node for c in calls if c.ok], "created"
        )
        failed = [c for c in calls if not c.ok]
        silent = await asyncio.to_thread(self.rows.given_up, job) if failed else None
        reason = refusal_of(failed, first) or (
            silent and f"node {silent} did not answer job/create"
        )
        if reason:
            await asyncio.to_thread(self.rows.set_job, job.job_id, Status.REJECTED, reason)
            created = await asyncio.to_thread(self.rows.parties_where, job.job_id, "created", True)
            await self._fan_out_stop(job, created, None)
        elif not failed:
            await asyncio.to_thread(self.rows.set_job, job.job_id, Status.READY, None)
            await self._start(job)
        return failed

    async def _start(self, job: Job) -> None:
        assert job.job_id is not None
        pending = await asyncio.to_thread(self.rows.parties_where, job.job_id, "started", False)
        calls = await self._fan_out(job, pending, paths.JOB_START, {"job_id": job.job_id})
        await asyncio.to_thread(
            self.rows.mark_parties, job.job_id, [c.node for c in calls if c.ok], "started"
        )
        refused = [c for c in calls if not c.ok and isinstance(c.error, PeerRefused)]
        if refused:
            why = f"{refused[0].node} refused job/start: {peer_message(refused[0].error)}"
            await self._finish(job, Verdict(Status.FAILED, why))
            return
        silent = await asyncio.to_thread(self.rows.given_up, job)
        if silent is not None:
            await self._finish(job, Verdict(Status.FAILED, self._silence(silent)))
            return
        if all(c.ok for c in calls):
            await asyncio.to_thread(self.rows.set_job, job.job_id, Status.RUNNING, None)
            await self._dispatch(job)

    async def _dispatch(self, job: Job) -> None:
        """Start every task whose upstream all succeeded (on the nodes not started yet)."""
        assert job.job_id is not None
        plan = await asyncio.to_thread(self.rows.ready_tasks, job)
        if not plan:
            return

        async def start(task_name: str, task_id: str, nodes: list[str]) -> None:
            body = {"task_id": task_id, "task_name": task_name, "job_id": job.job_id}
            calls = await self._fan_out(job, nodes, paths.TASK_START, body)
            await asyncio.to_thread(self.rows.task_started, job, task_name, calls)

        await asyncio.gather(*(start(name, tid, nodes) for name, tid, nodes in plan))

    async def _poll(self, job: Job, sync_type: str) -> None:
        assert job.job_id is not None
        interval = (
            self.settings.poll_interval_s
            if sync_type == "poll"
            else self.settings.callback_safety_poll_s
        )
        last = self._last_poll.get(job.job_id, 0.0)
        if time.monotonic() - last < interval * 0.9:
            return
        self._last_poll[job.job_id] = time.monotonic()
        targets = await asyncio.to_thread(self.rows.pollable, job.job_id)
        if not targets:
            return

        async def one(node: str, role: str, task_id: str) -> Call:
            body = {"task_id": task_id, "role": role}
            calls = await self._fan_out(job, [node], paths.TASK_POLL, body)
            return calls[0]

        results = await asyncio.gather(*(one(*t) for t in targets))
        for (node, role, task_id), call in zip(targets, results, strict=True):
            if call.ok and isinstance(call.data, dict):
                normalized = st.normalize_task_status(call.data.get("status"))
                if normalized is not None:
                    await asyncio.to_thread(
                        self.rows.update_party,
                        node,
                        task_id,
                        role,
                        normalized,
                        call.data.get("reason"),
                        call.data.get("log_tail"),
                    )
            elif isinstance(call.error, PeerRefused):
                await asyncio.to_thread(
                    self.rows.update_party,
                    node,
                    task_id,
                    role,
                    Status.FAILED,
                    f"task/poll refused: {peer_message(call.error)}",
                    None,
                )

    async def _settle(self, job: Job) -> None:
        """Fold party statuses into task statuses; fail or close the job when due."""
        verdict = await asyncio.to_thread(self.rows.fold, job)
        silent = await asyncio.to_thread(self.rows.given_up, job)
        if verdict is None and silent is not None:
            verdict = Verdict(Status.FAILED, self._silence(silent))
        if verdict is not None:
            await self._finish(job, verdict)

    async def _finish(self, job: Job, verdict: Verdict) -> None:
        """FINISHED with ``verdict`` as its result, every unfinished task STOPPED, and
        ``job/stop`` to everyone."""
        assert job.job_id is not None
        reason = verdict.reason
        finished = await asyncio.to_thread(self.rows.close, job.job_id, verdict)
        if not finished:
            return
        nodes = await asyncio.to_thread(self.rows.parties_where, job.job_id, "created", True)
        await self._fan_out_stop(job, nodes, None)
        self._last_poll.pop(job.job_id, None)
        log.info("job %s finished%s", job.job_id, f": {reason}" if reason else "")

    async def _fan_out_stop(self, job: Job, nodes: list[str], task_name: str | None) -> None:
        """``job/stop`` to ``nodes``: partners through the outbox (delivered even if they
        are down now), this node directly."""
        assert job.job_id is not None
        body: dict[str, Any] = {"job_id": job.job_id}
        if task_name:
            body["task_name"] = task_name
        for node in nodes:
            if node == self.me:
                try:
                    await self.channel.call(node, paths.JOB_STOP, body)
                except Exception:
                    log.exception("job %s: stopping our own tasks failed", job.job_id)
            else:
                await self.enqueue_stop(node, body)

    def _silence(self, node: str) -> str:
        return f"node {node} did not answer for {self.settings.party_timeout_s:.0f} s"
