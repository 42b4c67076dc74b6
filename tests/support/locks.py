"""One process at a time through a named critical section, across pytest-xdist workers.

The peers' set-up scripts create a venv the first time they run (minutes, from PyPI);
two workers running one at the same moment would race on the same directory. A
``fcntl`` lock on a file in the temporary directory serialises them; the second
worker then finds the venv made and the script returns at once.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    path = Path(tempfile.gettempdir()) / f"isthmus-tests-{name}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
