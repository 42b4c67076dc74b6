"""Each party's task gets its own storage directory (issue #12, item 12).

The node keeps its tables in one storage root (``system.storage`` of the node, a
``file://`` path): datasets materialised for tasks, and the outputs of finished tasks.
A task never gets that root. It gets ``<root>/.tasks/<job>/<task>/<party>``, which
holds:

* a **copy** of each of its input tables (upstream outputs, datasets), files ``0444``
  and table directories ``0555``, so that what the task does to its inputs never
  reaches the node's copy (a copy, not a hard link: a hard link shares the file, and
  a container's root or a same-user process can make any file writable again);
* an empty, writable directory for each of its output namespaces.

When the run succeeded, its declared outputs, and nothing else, are moved into the node's
root (``publish``), where downstream tasks' copies come from; a tree holding a symbolic
link or anything but files and directories is refused, so a task cannot make the node
copy a file it chose (``admin.token``) into another task. The task's directory is then
removed, whatever the outcome (``discard``).

What this does not do: a *process* run is the node's own user, and can still open any
file that user can (the node's home included) if it knows where to look; only the Docker
and Kubernetes runners confine a task to what is mounted (docs/operator-guide.md,
"What each runner isolates"). Storage that is not ``file://`` (S3, HDFS) is shared as
configured: its isolation is the storage's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from isthmus.wire.errors import ValidationFailed
from isthmus.wire.ids import check_id, inside

TASKS_DIR = ".tasks"
INPUT = "runtime.component.input."
OUTPUT = "runtime.component.output."
READ_ONLY_FILE = 0o444
READ_ONLY_DIR = 0o555


class StorageRefused(ValidationFailed):
    """A task's inputs or outputs could not be placed or published as the rules say."""


def local_root(storage_url: str) -> Path | None:
    """The node's storage root when it is a local ``file://`` path, else None."""
    parts = urlsplit(storage_url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    return Path(unquote(parts.path))


@dataclass(frozen=True)
class TaskStorage:
    """One party's task directory under the node's root ``shared``."""

    shared: Path
    root: Path

    @classmethod
    def of(cls, shared: Path, job_id: str, task_id: str, party: str) -> TaskStorage:
        return cls(shared, inside(shared, TASKS_DIR, job_id, task_id, party))

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def to_json(self, env: Mapping[str, str]) -> str:
        """The record the node keeps beside the task's log: where, and which outputs."""
        return json.dumps(
            {"shared": str(self.shared), "root": str(self.root), "outputs": _tables(env, OUTPUT)}
        )

    @classmethod
    def from_json(cls, text: str) -> tuple[TaskStorage, list[tuple[str, str]]]:
        record: dict[str, Any] = json.loads(text)
        storage = cls(Path(record["shared"]), Path(record["root"]))
        return storage, [(str(ns), str(name)) for ns, name in record["outputs"]]

    def prepare(self, env: Mapping[str, str]) -> None:
        """Make the task's directory: its inputs copied read-only, its output
        namespaces empty and writable. Raises ``StorageRefused`` for an input that is
        missing or holds a link."""
        self.discard()
        for attempt in range(3):  # another party's discard may remove an empty parent
            try:
                self.root.mkdir(parents=True, mode=0o700)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
        for namespace, name in _tables(env, INPUT):
            source = inside(self.shared, namespace, name)
            if not source.exists():
                continue  # the component says what is missing, in its own log
            _refuse_links(source, f"input {namespace}/{name}")
            target = inside(self.root, namespace, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, symlinks=True)
            else:
                shutil.copyfile(source, target)
            _read_only(target)
        for namespace, _ in _tables(env, OUTPUT):
            inside(self.root, namespace).mkdir(parents=True, exist_ok=True)

    def publish(self, outputs: list[tuple[str, str]]) -> None:
        """Move the task's declared outputs into the node's root, replacing older ones
        of the same name (a retried run)."""
        for namespace, name in outputs:
            inside(self.root, namespace, name)  # ids, and no link leading out
            made = self.root / namespace / name  # as named: a link is refused, not followed
            if not made.exists() and not made.is_symlink():
                continue
            if made.parent.is_symlink():
                raise StorageRefused(f"output namespace {namespace} is a link")
            _refuse_links(made, f"output {namespace}/{name}")
            target = inside(self.shared, namespace, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                _remove(target)
            os.replace(made, target)

    def discard(self) -> None:
        """Remove the task's directory and everything in it (read-only parts too), and
        its task's and job's directories once empty."""
        if self.root.exists() or self.root.is_symlink():
            _remove(self.root)
        for parent in (self.root.parent, self.root.parent.parent):
            try:
                parent.rmdir()
            except OSError:  # not empty (another party's), or gone already
                break


def _tables(env: Mapping[str, str], prefix: str) -> list[tuple[str, str]]:
    tables = []
    for key in sorted(env):
        if key.startswith(prefix):
            table = json.loads(env[key])
            namespace = check_id(table.get("namespace"), f"{key}.namespace")
            tables.append((namespace, check_id(table.get("name"), f"{key}.name")))
    return tables


def _refuse_links(path: Path, what: str) -> None:
    """Only plain files and directories: a symbolic link, a FIFO or a device could make
    the node read or write something the task chose."""
    for entry in [path, *(path.rglob("*") if path.is_dir() and not path.is_symlink() else [])]:
        mode = entry.lstat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise StorageRefused(f"{what} holds {entry.name!r}, which is not a plain file")


def _read_only(path: Path) -> None:
    if path.is_dir():
        for entry in path.rglob("*"):
            entry.chmod(READ_ONLY_DIR if entry.is_dir() else READ_ONLY_FILE)
        path.chmod(READ_ONLY_DIR)
    else:
        path.chmod(READ_ONLY_FILE)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    for entry in [path, *path.rglob("*")]:
        if entry.is_dir() and not entry.is_symlink():
            with contextlib.suppress(OSError):
                entry.chmod(0o700)
    shutil.rmtree(path)
