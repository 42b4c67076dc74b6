"""The Audit page's filters, read from a query string: each field bounded as the admin
API bounds it, a bad one named and left out (never an error page), times in UTC."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import isthmus.console
from isthmus.console.audit_trail import (
    PAGE_SIZE,
    TIME_INPUT,
    export_name,
    read_filters,
    shown_time,
    to_ms,
    trail_page,
)
from isthmus.store import Store


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


CONSOLE = Path(isthmus.console.__file__).parent
#: Keys a template builds from a prefix and a name: the filters a bad value names, and
#: the pictures' captions.
DYNAMIC = {
    "audit": {f"audit.{name}" for name in ("action", "actor", "subject", "since", "until")}
    | {"audit.after_seq"},
    "models": {f"models.plot_{kind}" for kind in ("roc", "ks", "lift", "score")},
}


@pytest.mark.parametrize("page", ["audit", "models"])
def test_every_word_of_the_page_is_in_both_languages(page: str) -> None:
    books = {
        lang: json.loads((CONSOLE / "i18n" / lang / f"{page}.json").read_text(encoding="utf-8"))
        for lang in ("en", "zh-CN")
    }
    assert set(books["en"]) == set(books["zh-CN"])
    for key, text in books["en"].items():  # the same placeholders in each
        assert re.findall(r"{\w+}", text) == re.findall(r"{\w+}", books["zh-CN"][key]), key
    template = (CONSOLE / "templates" / page / "index.html").read_text(encoding="utf-8")
    named = re.findall(r"""t\(["']([\w.]+)["']""", template)
    used = {k for k in named if k[-1] not in "._"}  # a prefix joined to a name: below
    used |= DYNAMIC[page]
    assert used <= set(books["en"]), used - set(books["en"])


def test_the_trail_pages_forward_and_says_when_it_ends(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'audit.db'}")
    store.migrate()
    try:
        for i in range(PAGE_SIZE + 3):
            store.audit.record(actor="token:ann", action="test.event", details={"i": i})
        ctx: Any = SimpleNamespace(store=store)
        first, after = trail_page(ctx, read_filters({"action": "test.event"}))
        assert [e["seq"] for e in first] == list(range(1, PAGE_SIZE + 1))
        assert after == PAGE_SIZE and first[0]["details_text"] == '{"i": 0}'
        rest, end = trail_page(ctx, read_filters({"after_seq": str(after)}))
        assert [e["seq"] for e in rest] == [PAGE_SIZE + 1, PAGE_SIZE + 2, PAGE_SIZE + 3]
        assert end is None
    finally:
        store.dispose()
