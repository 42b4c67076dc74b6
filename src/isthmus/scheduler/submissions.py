"""The record that makes a job "ours": this node's operator submitted it, with this DAG
and config, for this scheduler (north-south ``create_all``). A job's
``config.initiator`` is whatever its sender wrote; only this record lets a party accept
"this node is the initiator"."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from isthmus.scheduler.jobdoc import job_digest
from isthmus.store.db import Store
from isthmus.store.schema import AuditEventRow
from isthmus.wire.ids import check_id

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
