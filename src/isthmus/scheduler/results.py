"""A participant learns what its ended jobs came to.

A participant learns that a job ended through ``job/stop``, which does not say how it
ended. When this node is also the job's scheduler, the participant's row takes the
scheduler's result at once (``Participant.stop``). Otherwise ``ResultLearner`` asks the
scheduler's ``status_all`` once per such job and keeps the answer on the job's row
(``outcomes.result_of``: the ``result`` an Isthmus scheduler adds, or, from a foreign
scheduler's spec fields, SUCCESS / STOPPED / FAILED). A scheduler that cannot be
reached is asked again later, less and less often; a job ended before results were
kept is learned the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, update

from isthmus.scheduler.channel import PartyChannel
from isthmus.scheduler.outcomes import result_of
from isthmus.store.db import Store
from isthmus.store.schema import JobRow, ScheduledJobRow
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import IsthmusError
from isthmus.wire.status import Status

log = logging.getLogger(__name__)

#: Waits between attempts on an unreachable scheduler: doubled each time, up to this.
FIRST_RETRY_S = 2.0
MAX_RETRY_S = 300.0
#: The scheduler loop rounds every 0.1 s while jobs run; the ended jobs are looked up at
#: most this often, so the loop does not pay a query per round for them.
SCAN_EVERY_S = 1.0
#: The most of a scheduler's reason kept (it is the partner's text; the scheduler's own
#: rows keep a failure's reason to the same length).
MAX_REASON = 2000


@dataclass(frozen=True)
class Unknown:
    job_id: str
    scheduler: str
    stop_asked: bool


def keep_result(store: Store, job_id: str, result: str, reason: str | None) -> bool:
    """Keep what a job came to on the participant's row (once: a known result stays);
    a success keeps no reason, anything else the scheduler's when it gave one.

    One conditional UPDATE (``result IS NULL``), never a read then a write: the job's
    ``job/stop`` may be finishing the same row at the same moment
    (``Participant._finish_job``), and neither may overwrite what the other kept."""
    stamp = now_ms()
    values: dict[str, Any] = {
        "result": result,
        "updated_at": stamp,
        "finished_at": func.coalesce(JobRow.finished_at, stamp),
    }
    if result == Status.SUCCESS:
        values["reason"] = None
    elif reason:
        values["reason"] = reason[:MAX_REASON]
    with store.session() as s:
        done = s.execute(
            update(JobRow)
            .where(JobRow.job_id == job_id, JobRow.result.is_(None))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(done, "rowcount", 0))


class ResultLearner:
    def __init__(self, store: Store, channel: PartyChannel) -> None:
        self.store = store
        self.channel = channel
        self._retry: dict[str, tuple[float, float]] = {}  # job → (next try, wait)
        self._next_scan = 0.0

    def _unknown(self) -> list[Unknown]:
        """Ended jobs of this participant without a result; those this node schedules
        take the scheduler's row's result here and now."""
        with self.store.session() as s:
            rows = s.query(JobRow).filter_by(status=Status.FINISHED, result=None).all()
            found = []
            for row in rows:
                if row.scheduler_node_id == self.channel.me:
                    own = s.get(ScheduledJobRow, row.job_id)
                    if own is not None and own.result is not None:
                        row.result, row.reason = own.result, own.reason
                    continue
                asked = bool(row.stop_requested_at)
                found.append(Unknown(row.job_id, row.scheduler_node_id, asked))
            return found

    async def once(self) -> int:
        """Ask each due scheduler once; returns how many results were learned."""
        learned = 0
        if time.monotonic() < self._next_scan:
            return learned
        self._next_scan = time.monotonic() + SCAN_EVERY_S
        for job in await asyncio.to_thread(self._unknown):
            due, wait = self._retry.get(job.job_id, (0.0, FIRST_RETRY_S))
            if time.monotonic() < due:
                continue
            answer = await self._ask(job)
            result = result_of(answer, job.stop_asked) if answer is not None else None
            if result is None:
                self._retry[job.job_id] = (time.monotonic() + wait, min(wait * 2, MAX_RETRY_S))
                continue
            reason = answer.get("reason") if answer is not None else None
            if await asyncio.to_thread(
                keep_result, self.store, job.job_id, result, str(reason) if reason else None
            ):
                learned += 1
            self._retry.pop(job.job_id, None)
        return learned

    async def _ask(self, job: Unknown) -> dict[str, Any] | None:
        try:
            data = await self.channel.call(
                job.scheduler, paths.JOB_STATUS_ALL, method="GET", params={"job_id": job.job_id}
            )
        except IsthmusError as exc:  # unreachable, or not known there (yet)
            log.info("job %s: no result from %s yet: %s", job.job_id, job.scheduler, exc.message)
            return None
        return dict(data) if isinstance(data, dict) else None
