"""A participant keeps what its scheduler says a job came to: once, and never more of the
scheduler's reason than its own rows would keep."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from isthmus.scheduler.results import MAX_REASON, keep_result
from isthmus.store import Store
from isthmus.store.schema import JobRow
from isthmus.wire.status import Status


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    store.migrate()
    with store.session() as s:
        s.add(
            JobRow(
                job_id="job-1",
                scheduler_node_id="SCHED",
                initiator_node_id="SCHED",
                document="{}",
                status=Status.FINISHED,
                session_token="t",
                created_at=1,
                updated_at=1,
            )
        )
    yield store
    store.dispose()


def test_a_partners_reason_is_kept_bounded_and_only_once(store: Store) -> None:
    assert keep_result(store, "job-1", Status.FAILED, "x" * (10 * MAX_REASON))
    assert not keep_result(store, "job-1", Status.SUCCESS, None)  # a known result stays
    with store.session() as s:
        row = s.get(JobRow, "job-1")
        assert row is not None
        assert row.result == Status.FAILED
        assert row.reason == "x" * MAX_REASON
