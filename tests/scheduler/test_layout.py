"""The scheduler stays split where its classes divide (issue 13): no module grows past
about 400 lines, so a new concern lands in a new, named module instead of a long one."""

from __future__ import annotations

from pathlib import Path

import isthmus.scheduler

LIMIT = 400


def test_no_scheduler_module_is_longer_than_the_limit() -> None:
    root = Path(isthmus.scheduler.__file__).parent
    long = {
        path.name: count
        for path in sorted(root.glob("*.py"))
        if (count := len(path.read_text().splitlines())) > LIMIT
    }
    assert not long, f"split these scheduler modules (over {LIMIT} lines): {long}"
