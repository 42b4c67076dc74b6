"""The jobs list's filters: status, initiator and since, over ``TaskViews.jobs`` (the
rows ``isthmus job list`` prints, newest first). Pure, so the page and its tests agree
on what each filter keeps; a filter left empty keeps everything."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from isthmus.wire.status import Status

#: The statuses the filter offers, in the order a job passes them.
STATUSES = (
    Status.PENDING,
    Status.READY,
    Status.RUNNING,
    Status.SUCCESS,
    Status.FAILED,
    Status.STOPPED,
    Status.REJECTED,
)


@dataclass(frozen=True)
class Filters:
    status: str = ""
    initiator: str = ""
    since: str = ""  # YYYY-MM-DD (UTC), as an <input type=date> sends it

    def since_ms(self) -> int | None:
        """Midnight UTC of ``since`` in ms; None when empty or not a date."""
        try:
            day = datetime.strptime(self.since, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            return None
        return int(day.timestamp() * 1000)


def read_filters(query: Mapping[str, str]) -> Filters:
    """Filters from the query string; a status not offered, or a long value, is ignored."""
    status = query.get("status", "")
    return Filters(
        status=status if status in STATUSES else "",
        initiator=query.get("initiator", "").strip()[:128],
        since=query.get("since", "").strip()[:10],
    )


def keep(rows: Iterable[Mapping[str, Any]], filters: Filters) -> list[dict[str, Any]]:
    since = filters.since_ms()
    return [
        dict(r)
        for r in rows
        if (not filters.status or r.get("status") == filters.status)
        and (not filters.initiator or r.get("initiator") == filters.initiator)
        and (since is None or int(r.get("created_at") or 0) >= since)
    ]


def stamp(ms: int | None) -> str:
    """A time in ms since the epoch as ``YYYY-MM-DD HH:MM`` UTC; ``-`` when unknown."""
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
