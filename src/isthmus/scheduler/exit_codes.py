"""What a run's exit code means, in words, and the component's own message from its log.

One table (``EXIT_WORDS``) names every code a component run can end with: the codes of
``components.errors`` (one per error class, read from the classes themselves) and the
codes a shell gives a process ended by a signal (128 + N): SIGTERM is how this node
stops a run, SIGKILL how it (or the kernel, out of memory) kills one. A failed run's
reason reads ``exit 65 (parameter error): parameter 'field_names': …``: the code, its
word, and the component's message when its log holds one.

The message is the last ``task <id> FAILED: <message>`` line of the run's log, the line
the container writes when it fails (``components.container``): the component's error
message, which components keep free of data rows. Nothing else of the log is read into
the reason.
"""

from __future__ import annotations

import re
import signal

from isthmus.components.errors import (
    AlgorithmError,
    ComponentError,
    ContractError,
    ParameterError,
    StorageError,
)

#: Every exit code a run may end with that has a name, and its name.
EXIT_WORDS: dict[int, str] = {
    0: "success",
    ComponentError.exit_code: "component error",
    ContractError.exit_code: "environment error",
    ParameterError.exit_code: "parameter error",
    StorageError.exit_code: "storage error",
    AlgorithmError.exit_code: "algorithm error",
    128 + signal.SIGTERM: "stopped (SIGTERM)",
    128 + signal.SIGKILL: "killed (SIGKILL)",
}

#: How far back in a run's log the component's message is looked for.
_TAIL_BYTES = 64 * 1024
_FAILED_LINE = re.compile(r"\btask \S+ FAILED: (?P<message>.+)$")
_MESSAGE_CHARS = 1000


def exit_word(code: int) -> str:
    """The name of an exit code: the table's, a signal's, or "error"."""
    if code in EXIT_WORDS:
        return EXIT_WORDS[code]
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return "error"


def describe_exit(code: int) -> str:
    """``exit 65 (parameter error)``."""
    return f"exit {code} ({exit_word(code)})"


def component_message(log_path: str | None) -> str | None:
    """The component's own error message: the last ``task <id> FAILED: …`` line of the
    run's log, or None when there is none (or no log)."""
    if not log_path:
        return None
    try:
        with open(log_path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - _TAIL_BYTES))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    for line in reversed(text.splitlines()):
        found = _FAILED_LINE.search(line.rstrip())
        if found:
            return found.group("message").strip()[:_MESSAGE_CHARS] or None
    return None


def failure_reason(code: int, log_path: str | None) -> str:
    """Why a run that exited with ``code`` failed: the code named, and the component's
    own message after it when its log has one."""
    message = component_message(log_path)
    named = describe_exit(code)
    return f"{named}: {message}" if message else named
