"""The process runner's supervisor:
``python -m isthmus.scheduler.supervise EXIT_FILE [MEMORY_BYTES]``.

It starts ``python -m isthmus.components`` with its own environment unchanged (the
container contract, exactly), waits, and writes the exit code to ``EXIT_FILE``
atomically. That file is what lets a node that was restarted, or killed, while the task
ran still learn how the task ended: the supervisor is not the node's child any more
then, so the node cannot wait for it. A shell cannot do this job: dash drops the
dotted variable names the contract uses.

``MEMORY_BYTES`` (from ``job_params`` resources) caps the data segment (``RLIMIT_DATA``:
heap and private mappings, i.e. what the component allocates) of the supervisor and
so of the component, which inherits it: an allocation beyond it fails in the component
rather than the machine running out. It is set here, in a process without threads,
not in the node (whose threads make ``preexec_fn`` unsafe).

SIGTERM and SIGINT reach the whole process group; the supervisor ignores them and
waits for the component, so a stopped task still gets its exit code written.

``isthmus.token_file`` in its environment (the Ray runner's way: Ray records an actor's
arguments, so the token travels as a file only the node's user can read) is read into
the component's ``config.token`` and the file removed; the token is never an argument.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

#: The environment variable naming a file that holds the session token.
TOKEN_FILE = "isthmus.token_file"  # noqa: S105 - a variable name, not a secret


def write_exit_code(path: Path, code: int) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(f"{code}\n")
    os.replace(temporary, path)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m isthmus.scheduler.supervise EXIT_FILE [MEMORY_BYTES]",
              file=sys.stderr)  # fmt: skip
        return 64
    exit_file = Path(argv[1])
    if len(argv) == 3:
        limit = int(argv[2])
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    env = dict(os.environ)
    token_file = env.pop(TOKEN_FILE, "")
    if token_file:
        path = Path(token_file)
        env["config.token"] = path.read_text(encoding="utf-8").strip()
        path.unlink(missing_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-m", "isthmus.components"],
        env=env,
        # the component must be stoppable: restore the default dispositions in it
        preexec_fn=_default_signals,  # noqa: PLW1509 - no threads exist yet here
    )
    code = child.wait()
    code = 128 - code if code < 0 else code  # killed by signal N: 128 + N, as shells say
    write_exit_code(exit_file, code)
    return code


def _default_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
