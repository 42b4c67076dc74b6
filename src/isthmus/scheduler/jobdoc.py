"""A job's document as the scheduler stores it: what part of a request is the job, when
two documents are the same job, and the one way a stored document is read back.

Rows (``JobRow``, ``ScheduledJobRow``) keep the document as the JSON text written when
the job was accepted; it was checked then (``parse_job`` names every problem by its
field), so reading it back is ``load_job`` / ``load_document`` and nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from isthmus.store.db import Store
from isthmus.wire.dag import Job, parse_job
from isthmus.wire.errors import NotFound

RowT = TypeVar("RowT")


def session_id(job_id: str) -> str:
    """The transport session of a job's messages."""
    return f"session_{job_id}"


def job_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a create request that is the job (other fields, like FATE's
    ``old_job_id``, are not)."""
    return {k: document.get(k) for k in ("job_id", "flow_id", "dag", "config")}


def same_job(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return bool(a.get("dag") == b.get("dag") and a.get("config") == b.get("config"))


def load_document(stored: str) -> dict[str, Any]:
    """A stored job document as a dict."""
    document: dict[str, Any] = json.loads(stored)
    return document


def load_job(stored: str) -> Job:
    """A stored job document as a ``Job``."""
    return parse_job(load_document(stored))


def sync_type(document: Mapping[str, Any]) -> str:
    """How a job's parties report their tasks: ``poll`` (the spec's default) or
    ``callback``."""
    config = document.get("config") or {}
    return str(config.get("job_params", {}).get("common", {}).get("sync_type", "poll"))


def job_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of the job's DAG and config, as compact sorted-key JSON."""
    body = {"dag": document.get("dag"), "config": document.get("config")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def job_row(store: Store, model: type[RowT], job_id: str, missing: str) -> RowT:
    """The ``model`` row of ``job_id`` (a participant's ``JobRow``, a scheduler's
    ``ScheduledJobRow``), or ``NotFound(missing)``."""
    with store.session() as s:
        row = s.get(model, job_id)
        if row is None:
            raise NotFound(missing)
        return row
