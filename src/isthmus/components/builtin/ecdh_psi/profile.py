"""Where an ECDH-PSI party's time goes, phase by phase, when asked for.

Off by default: ``PROFILE.phase(name)`` is then a shared no-op context manager, so the
hot paths pay one attribute lookup and one ``with`` per batch (never per item). With
``ISTHMUS_PSI_PROFILE=<path>`` in the environment, every phase accumulates the wall
seconds spent inside it (``time.perf_counter``, monotonic), the CPU seconds of the thread
that ran it (``time.thread_time``: other load on the machine does not inflate it; for a
``wait.*`` phase it is the event loop's other work meanwhile) and how many times it was
entered, and ``dump()`` writes them as one JSON document to that path, together with
the process's user and system CPU. Phases run in several threads at once (the workers,
the event loop), so their sums may exceed the wall time; ``wait.*`` phases measure the
event loop blocked on the peer. Nothing about the data is recorded: names and times only.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import threading
import time
from collections.abc import Iterator

ENV = "ISTHMUS_PSI_PROFILE"


class _Profile:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.enabled = bool(path)
        self._seconds: dict[str, float] = {}
        self._cpu: dict[str, float] = {}
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started, time.thread_time() - cpu)

    def phase(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Time the block as ``name`` (a no-op when profiling is off)."""
        return self._timed(name) if self.enabled else contextlib.nullcontext()

    def add(self, name: str, seconds: float, cpu: float = 0.0) -> None:
        """Count ``seconds`` of wall time (and ``cpu`` of this thread's CPU) to ``name``."""
        if not self.enabled:
            return
        with self._lock:
            self._seconds[name] = self._seconds.get(name, 0.0) + seconds
            self._cpu[name] = self._cpu.get(name, 0.0) + cpu
            self._calls[name] = self._calls.get(name, 0) + 1

    def snapshot(self) -> dict[str, object]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with self._lock:
            phases = {
                name: {
                    "s": round(seconds, 3),
                    "cpu_s": round(self._cpu[name], 3),
                    "calls": self._calls[name],
                }
                for name, seconds in sorted(self._seconds.items())
            }
        return {
            "wall_s": round(time.perf_counter() - self._started, 3),
            "cpu_user_s": round(usage.ru_utime, 3),
            "cpu_sys_s": round(usage.ru_stime, 3),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "phases": phases,
        }

    def dump(self) -> None:
        """Write the snapshot to the configured path (nothing when profiling is off)."""
        if self.path:
            with open(self.path, "w") as out:
                json.dump(self.snapshot(), out)


#: The process's profile, configured from the environment at import.
PROFILE = _Profile(os.environ.get(ENV) or None)
