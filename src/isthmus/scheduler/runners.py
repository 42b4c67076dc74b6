"""Runners: how a task's container environment becomes a running algorithm.

``ProcessRunner`` (the default) starts ``python -m isthmus.components`` with exactly the
container environment (plus PATH), in its own process group, its output going to the
task's log file; the exit code is the final word. Stopping sends SIGTERM to the whole
group and SIGKILL after a grace period, so nothing the component started is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RUNNING, SUCCESS, FAILED = "RUNNING", "SUCCESS", "FAILED"


@dataclass
class RunningTask:
    task_id: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def status(self) -> str:
        code = self.process.poll()
        if code is None:
            return RUNNING
        return SUCCESS if code == 0 else FAILED

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()


class ProcessRunner:
    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    def start(self, task_id: str, env: dict[str, str], log_path: Path) -> RunningTask:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                [self.python, "-m", "isthmus.components"],
                env={**env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop takes everything
            )
        return RunningTask(task_id, process, log_path)

    def stop(self, task: RunningTask, grace_s: float = 5.0) -> int:
        """Stop the task and everything it started; returns its exit code."""
        if task.process.poll() is None:
            self._signal(task, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while task.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        if task.process.poll() is None:
            self._signal(task, signal.SIGKILL)
        code = task.process.wait()
        self._signal(task, signal.SIGKILL)  # stragglers of the group, if any
        return code

    @staticmethod
    def _signal(task: RunningTask, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(task.process.pid, sig)
