"""The Audit page's filters, read from a query string: each field bounded as the admin
API bounds it, a bad one named and left out (never an error page), times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from isthmus.console.audit_trail import (
    TIME_INPUT,
    export_name,
    read_filters,
    shown_time,
    to_ms,
)


def test_good_filters_are_kept_and_carried_to_the_next_page() -> None:
    found = read_filters(
        {"action": " job.submitted ", "actor": "token:ann", "since": "2026-01-02T03:04"}
    )
    assert (found.action, found.actor, found.since, found.bad) == (
        "job.submitted",
        "token:ann",
        "2026-01-02T03:04",
        [],
    )
    assert found.query(after_seq=50) == {
        "action": "job.submitted",
        "actor": "token:ann",
        "since": "2026-01-02T03:04",
        "after_seq": "50",
    }
    assert found.query() == {k: v for k, v in found.query(50).items() if k != "after_seq"}


def test_bad_filters_are_named_and_left_out() -> None:
    found = read_filters(
        {"action": "a" * 129, "subject": "s" * 256, "until": "yesterday", "after_seq": "-1"}
    )
    assert found.bad == ["action", "until", "after_seq"]
    assert (found.action, found.subject, found.until, found.after_seq) == ("", "s" * 256, "", 0)
    assert read_filters({"after_seq": "9" * 19}).bad == ["after_seq"]


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 31)))
def test_a_typed_time_is_that_minute_in_utc(moment: datetime) -> None:
    minute = moment.replace(second=0, microsecond=0, tzinfo=UTC)
    ms = to_ms(minute.strftime(TIME_INPUT))
    assert ms == int(minute.timestamp()) * 1000
    assert shown_time(ms) == minute.strftime("%Y-%m-%d %H:%M:%S")


def test_the_export_name_holds_nothing_but_safe_characters() -> None:
    name = export_name('NODE "A"/../x')
    assert name.startswith("audit-NODE__A__.._x-") and name.endswith(".ndjson")
    assert '"' not in name and "/" not in name
