"""The life of one run's storage: staged before it starts, published if it succeeded,
discarded whatever happened.

Staging writes a record beside the run's log (``<log>.storage.json``: the directory and
the declared outputs), so every later step, in this process or after a restart, finds the
same storage from the task row alone. The rules about what a task may see and hand back
are ``task_storage``'s; this module only sequences them around a run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from isthmus.scheduler.runners import Outcome, TaskRun
from isthmus.scheduler.task_storage import TaskStorage, local_root
from isthmus.wire.errors import IsthmusError
from isthmus.wire.status import Status

log = logging.getLogger(__name__)


def _record_of(log_path: Path | str) -> Path:
    return Path(log_path).with_suffix(".storage.json")


def storage_of(log_path: Path | str) -> tuple[TaskStorage, list[tuple[str, str]]] | None:
    """The run's own storage and declared outputs, from the record written at staging
    (None: the node's storage is not a local path, or the run was never staged)."""
    try:
        return TaskStorage.from_json(_record_of(log_path).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stage_run(storage_url: str, job_id: str, run: TaskRun) -> str | None:
    """Give the run its own storage directory, inputs copied in read-only; the reason it
    cannot, if so."""
    shared = local_root(storage_url)
    if shared is None:
        return None
    party = run.env.get("config.self_role", "")
    storage = TaskStorage.of(shared, job_id, run.task_id, party)
    try:
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        _record_of(run.log_path).write_text(storage.to_json(run.env))
        storage.prepare(run.env)
    except (IsthmusError, OSError) as exc:
        return f"could not prepare the task's storage: {getattr(exc, 'message', exc)}"
    return None


def publish_outputs(log_path: Path | str, outcome: Outcome) -> Outcome:
    """A run that succeeded hands its declared outputs to the node's storage; one whose
    outputs break the rules (a link, a device) fails instead."""
    found = storage_of(log_path)
    if found is None or outcome.status != Status.SUCCESS:
        return outcome
    storage, outputs = found
    try:
        storage.publish(outputs)
    except (IsthmusError, OSError) as exc:
        reason = f"outputs refused: {getattr(exc, 'message', exc)}"
        return Outcome(Status.FAILED, outcome.exit_code, reason)
    return outcome


def discard_storage(log_path: Path | str) -> None:
    """Remove the run's storage directory (its published outputs are already moved)."""
    found = storage_of(log_path)
    if found is not None:
        try:
            found[0].discard()
        except OSError as exc:
            log.warning("could not remove task storage %s: %s", found[0].root, exc)
