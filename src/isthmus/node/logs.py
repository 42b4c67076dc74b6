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
from pathlib import Path
from typing import IO, Any

from isthmus.wire.logcontext import job_id_var, task_id_var, trace_id_var

#: Client and server libraries whose INFO lines are one per request or connection: at
#: INFO the node's own request log (with the trace id) says it once; at DEBUG they talk.
CHATTY_LOGGERS = ("httpx", "httpcore", "uvicorn.access", "hpack", "grpc", "asyncio")

#: Lines every uvicorn server of the node says alike (it runs one per listener): written
#: once per process, as the same line repeated would read as a duplicate.
_LIFECYCLE = (
    "Started server process",
    "Waiting for application startup",
    "Application startup complete",
    "Shutting down",
    "Waiting for application shutdown",
    "Application shutdown complete",
    "Finished server process",
)


class OncePerProcess(logging.Filter):
    """Lets each uvicorn lifecycle line (``_LIFECYCLE``) through the first time only."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(_LIFECYCLE):
            return True
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


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
        trace_id, job_id = trace_id_var.get(), job_id_var.get()
        if trace_id:
            entry["trace_id"] = trace_id
        if job_id:
            # A job's line always has both keys, so a pipeline can rely on them; a
            # line about the job as a whole has a null task_id.
            entry["job_id"], entry["task_id"] = job_id, task_id_var.get()
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
    # One handler, the root's: a library's own handler would write each line twice
    # (and uvicorn's default one in colour).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.filters[:] = [
        f for f in uvicorn_error.filters if not isinstance(f, OncePerProcess)
    ]
    uvicorn_error.addFilter(OncePerProcess())
    verbose = str(level).upper() == "DEBUG"
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
