"""The Audit page's data: a page of the trail under the filters a form sent, the chain's
verdict, and the export's file name.

Filters come from a query string, so each one is bounded here the way the admin API
bounds it (``node.api.operations.audit``) and a bad one is named, never raised: the page
shows the trail unfiltered by it and says which field was wrong. Times are read and shown
in UTC (the form says so), as the CLI shows them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from isthmus.node.context import NodeContext
from isthmus.store.audit import row_to_dict

#: Events on one page of the trail.
PAGE_SIZE = 50
#: The longest text each filter takes (the admin API's bounds).
BOUNDS = {"action": 128, "actor": 256, "subject": 256}
#: How a time is typed (an HTML ``datetime-local`` field) and shown.
TIME_INPUT, TIME_SHOWN = "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"


@dataclass
class Filters:
    """What the form asked for; ``bad`` names the fields that were refused."""

    action: str = ""
    actor: str = ""
    subject: str = ""
    since: str = ""
    until: str = ""
    after_seq: int = 0
    bad: list[str] = field(default_factory=list)

    def query(self, after_seq: int | None = None) -> dict[str, str]:
        """The filters as a query string's fields (for the next page's link)."""
        fields = {
            "action": self.action,
            "actor": self.actor,
            "subject": self.subject,
            "since": self.since,
            "until": self.until,
        }
        found = {k: v for k, v in fields.items() if v}
        if after_seq:
            found["after_seq"] = str(after_seq)
        return found


def read_filters(params: dict[str, str]) -> Filters:
    """The filters of a query string; a field too long or not a time is left out and
    named in ``bad``."""
    found = Filters()
    for name, bound in BOUNDS.items():
        value = params.get(name, "").strip()
        if len(value) > bound:
            found.bad.append(name)
        else:
            setattr(found, name, value)
    for name in ("since", "until"):
        value = params.get(name, "").strip()
        if value and to_ms(value) is None:
            found.bad.append(name)
        else:
            setattr(found, name, value)
    after = params.get("after_seq", "0").strip() or "0"
    if after.isdigit() and len(after) <= 18:
        found.after_seq = int(after)
    else:
        found.bad.append("after_seq")
    return found


def to_ms(value: str) -> int | None:
    """A ``YYYY-MM-DDTHH:MM`` time in UTC as epoch milliseconds, or None."""
    try:
        stamp = datetime.strptime(value, TIME_INPUT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(stamp.timestamp() * 1000)


def shown_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(TIME_SHOWN)


def trail_page(ctx: NodeContext, filters: Filters) -> tuple[list[dict[str, Any]], int | None]:
    """One page of events under ``filters``, each with its time shown and its details as
    compact JSON; and the ``after_seq`` of the next page (None: this is the last)."""
    since = to_ms(filters.since) if filters.since else None
    until = to_ms(filters.until) if filters.until else None
    with ctx.store.session() as s:
        rows = ctx.store.audit.page(
            s,
            after_seq=filters.after_seq,
            limit=PAGE_SIZE + 1,
            action=filters.action or None,
            actor=filters.actor or None,
            subject=filters.subject or None,
            since_ms=since,
            until_ms=until,
        )
        events = [row_to_dict(r) for r in rows]
    more = len(events) > PAGE_SIZE
    events = events[:PAGE_SIZE]
    for event in events:
        event["time"] = shown_time(int(event["ts"]))
        event["details_text"] = _compact(str(event["details"]))
    return events, (int(events[-1]["seq"]) if more else None)


def _compact(details: str) -> str:
    try:
        return json.dumps(json.loads(details), ensure_ascii=False, separators=(", ", ": "))
    except ValueError:
        return details


def export_name(node_id: str) -> str:
    """The download's file name: the node and the moment, nothing from the request."""
    stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in node_id)
    return f"audit-{safe}-{stamp}.ndjson"
