"""Times as the console shows them: epoch milliseconds to ``YYYY-MM-DD HH:MM UTC``.

One zone for every reader (UTC, said on the page), so two people comparing a deadline on
the phone read the same figures; ``-1`` and ``None`` (no limit, never) show as an empty
string for the template to word.
"""

from __future__ import annotations

from datetime import UTC, datetime


def when(ms: int | None) -> str:
    if ms is None or ms < 0:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
