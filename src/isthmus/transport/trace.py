"""Where a message waits on its way through the node: an opt-in timing trace.

Off by default and then free (one ``None`` check per event). A node started with
``ISTHMUS_TRANSPORT_TRACE=<file>`` appends one JSON line per event to ``<file>.<pid>``:
a push answered (how long it took, its size), a forwarder round (messages, bytes, how
long the oldest waited in the out queue, the partner's round trip), a partner's batch
stored, a pop answered (how long it waited, how long its message waited in the in
queue). ``benchmarks/secretflow_psi.py --trace`` sums the lines up. The trace holds
sizes, counts and times only: never a payload, a session token or a key. Times are
``time.monotonic()`` (one clock for every process of the machine).
"""

from __future__ import annotations

import atexit
import json
import os
import time
from typing import IO, Any

ENV = "ISTHMUS_TRANSPORT_TRACE"


class Trace:
    """Appends events to a file, and remembers when messages became waiting."""

    def __init__(self, path: str) -> None:
        self._file: IO[str] = open(f"{path}.{os.getpid()}", "a", buffering=1 << 16)  # noqa: SIM115
        #: (queue, id) -> when the message started waiting there.
        self.since: dict[tuple[str, int], float] = {}
        atexit.register(self.flush)

    def event(self, kind: str, **fields: Any) -> None:
        self._file.write(json.dumps({"e": kind, "t": round(time.monotonic(), 6), **fields}))
        self._file.write("\n")

    def waiting(self, queue: str, message_id: int) -> None:
        self.since[queue, message_id] = time.monotonic()

    def waited(self, queue: str, message_id: int) -> float | None:
        """Seconds since ``waiting`` (and forget it), None if it was not seen."""
        start = self.since.pop((queue, message_id), None)
        return None if start is None else round(time.monotonic() - start, 6)

    def flush(self) -> None:
        self._file.flush()


def _from_env() -> Trace | None:
    path = os.environ.get(ENV)
    return Trace(path) if path else None


#: The process's trace, or None (the default: nothing is recorded).
TRACE: Trace | None = _from_env()


def now() -> float:
    return time.monotonic()
