"""What a job's tasks left on this node: this party's published outputs, and a preview of
each (``isthmus job output``).

Only this node's side: the tables our parties' runs published into the node's storage
root (``task_storage.publish``), found through the record each run keeps beside its log
(``run_storage.storage_of``). Every path is resolved with ``wire.ids.inside`` under the
node's own configured root (never the record's word for where the root is), so nothing
outside it can be read. A preview is the first rows of a table (CSV) or a report's JSON;
it holds data rows, so the route serving it is operator-only and nothing here logs them.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from isthmus.scheduler.run_storage import storage_of
from isthmus.scheduler.task_storage import local_root
from isthmus.scheduler.views import NO_PARTY, TaskViews
from isthmus.wire.errors import NotFound
from isthmus.wire.ids import inside

#: Rows a preview shows by default, and at most.
DEFAULT_ROWS, MAX_ROWS = 5, 100
#: The most of a table's data read for a preview, and of a report's JSON.
MAX_PREVIEW_BYTES = 256 * 1024
#: File types that are neither tables nor JSON (an evaluation's plots): shown as a file.
BINARY_TYPES = frozenset({"png", "jpg", "jpeg", "gif", "svg", "pdf", "bin", "pickle"})


def job_outputs(
    views: TaskViews, storage_url: str, job_id: str, task: str | None = None, rows: int = 5
) -> list[dict[str, Any]]:
    """Each output of this node's runs of ``job_id`` (of ``task``, a task's name or id,
    when given): its task, party, table, whether it was published, and a preview."""
    runs = [t for t in views.local_tasks(job_id) if t["party"] != NO_PARTY]
    if task:
        runs = [t for t in runs if task in (t["task_name"], t["task_id"])]
    if not runs:
        where = f"task {task} of job {job_id}" if task else f"job {job_id}"
        raise NotFound(f"no run of {where} on this node: it ran no task here, or not yet")
    root = local_root(storage_url)
    found: list[dict[str, Any]] = []
    for run in runs:
        record = storage_of(run["log_path"])
        for namespace, name in record[1] if record else []:
            output: dict[str, Any] = {
                "task_name": run["task_name"],
                "task_id": run["task_id"],
                "party": run["party"],
                "status": run["status"],
                "key": name.removeprefix(f"{run['task_id']}-"),
                "namespace": namespace,
                "name": name,
            }
            output.update(_published(root, namespace, name, rows, storage_url))
            found.append(output)
    return found


def _published(
    root: Path | None, namespace: str, name: str, rows: int, storage_url: str
) -> dict[str, Any]:
    if root is None:
        return {"published": None, "note": f"the node's storage {storage_url} is not local"}
    place = inside(root, namespace, name)
    if not place.exists():
        return {"published": False, "note": "not published: the run did not succeed"}
    meta = _meta(place)
    data = place if place.is_file() else _first_partition(place)
    described = {"published": True, "path": str(place), "count": meta.get("count")}
    if data is None:
        return {**described, "preview": None, "note": "no data file"}
    return {**described, "preview": preview(data, str(meta.get("file_type") or ""), rows)}


def _meta(place: Path) -> dict[str, Any]:
    if not place.is_dir():
        return {}
    try:
        meta = json.loads(inside(place, "metadata").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _first_partition(place: Path) -> Path | None:
    parts = sorted(
        (p for p in place.iterdir() if p.name.startswith("data_") and p.name[5:].isdigit()),
        key=lambda p: int(p.name[5:]),
    )
    return inside(place, parts[0].name) if parts else None


def preview(data: Path, file_type: str, rows: int) -> dict[str, Any]:
    """A report's JSON document (``file_type`` json, or data that reads as one JSON
    document), else the header and first ``rows`` rows of a CSV table; a picture or other
    binary file (its ``file_type``, or a NUL byte in it) as its type, size and path, and
    data that reads as no CSV as text: a preview never fails the whole listing."""
    with data.open("rb") as handle:
        head = handle.read(MAX_PREVIEW_BYTES + 1)
    if file_type.lower() in BINARY_TYPES or b"\0" in head:
        size = data.stat().st_size
        return {
            "kind": "file",
            "file_type": file_type,
            "bytes": size,
            "text": f"{file_type or 'binary'} file, {size} bytes: {data}",
        }
    truncated = len(head) > MAX_PREVIEW_BYTES
    text = head[:MAX_PREVIEW_BYTES].decode("utf-8", errors="replace")
    if file_type == "json" or text.lstrip().startswith(("{", "[")):
        try:
            return {"kind": "json", "document": json.loads(text)}
        except ValueError:
            if file_type == "json":
                return {"kind": "text", "text": text[:4096], "truncated": True}
    if truncated:  # never a row cut in half
        text = text[: text.rfind("\n") + 1]
    lines = csv.reader(io.StringIO(text))
    shown: list[list[str]] = []
    more = truncated
    try:
        header = next(lines, [])
        for row in lines:
            if len(shown) == rows:  # one row past those shown: there is more
                more = True
                break
            shown.append(row)
    except csv.Error:
        return {"kind": "text", "text": text[:4096], "truncated": len(text) > 4096}
    return {"kind": "table", "header": header, "rows": shown, "more": more}
