"""Structured JSON logs that carry the ids an operator correlates across nodes.

``x-trace-id`` travels with every east-west request; job and task ids are bound by the
scheduler. They live in context variables so any log call in the request's task picks them
up without threading them through every function. Log only ids and reasons, never
secrets, credentials or data rows.

Log files are owner-only (0600 in a 0700 folder), whoever creates them: the node's own
handler (``PrivateFileHandler``), or ``open_log_file`` for the file a detached node's
output goes to.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any

trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, and any ``extra``."""

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "node_id": self.node_id,
        }
        for key, var in (
            ("trace_id", trace_id_var),
            ("job_id", job_id_var),
            ("task_id", task_id_var),
        ):
            value = var.get()
            if value:
                entry[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _open_private(path: Path, flags: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, 0o600)


def open_log_file(path: Path) -> IO[bytes]:
    """``path`` opened for appending, created owner-only (an existing file keeps its
    mode: ``isthmus doctor`` reports one that is readable by others)."""
    return os.fdopen(_open_private(path, os.O_WRONLY | os.O_APPEND), "ab")


class PrivateFileHandler(logging.FileHandler):
    """A ``FileHandler`` whose file is created 0600 whatever the process umask."""

    def _open(self) -> Any:
        fd = _open_private(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def configure_logging(node_id: str, level: str = "INFO", file: Path | None = None) -> None:
    """Route the root logger (and uvicorn's) to one JSON handler."""
    handler: logging.Handler
    if file is not None:
        handler = PrivateFileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node_id))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Access lines duplicate our own request log, which has the trace id.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
