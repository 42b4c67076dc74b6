"""The audit log's page filters (what the console's Audit page and the admin API's
``/audit`` ask for): each narrows the page, ``subject`` matches as plain text, and the
time range is half-open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import update

from isthmus.store import Store
from isthmus.store.schema import AuditEventRow


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    s.migrate()
    events = [
        ("token:ann", "token.created", "bob"),
        ("token:bob", "job.submitted", "job_100%"),
        ("token:ann", "job.submitted", "job_1000"),
        ("token:ann", "job.stopped", "jobX100"),
    ]
    for actor, action, subject in events:
        s.audit.record(actor=actor, action=action, subject=subject)
    with s.session() as session:  # stamps 1000, 2000, 3000, 4000: a range to cut
        for seq in range(1, 5):
            session.execute(
                update(AuditEventRow).where(AuditEventRow.seq == seq).values(ts=seq * 1000)
            )
    yield s
    s.dispose()


def seqs(store: Store, **filters: object) -> list[int]:
    with store.session() as session:
        return [row.seq for row in store.audit.page(session, **filters)]  # type: ignore[arg-type]


def test_each_filter_narrows_the_page(store: Store) -> None:
    assert seqs(store) == [1, 2, 3, 4]
    assert seqs(store, action="job.submitted") == [2, 3]
    assert seqs(store, actor="token:ann") == [1, 3, 4]
    assert seqs(store, actor="token:ann", action="job.submitted") == [3]
    assert seqs(store, subject="100") == [2, 3, 4]
    assert seqs(store, subject="100%") == [2]  # '%' is text, not a wildcard
    assert seqs(store, subject="job_") == [2, 3]  # '_' too: not 'jobX'
    assert seqs(store, since_ms=2000, until_ms=4000) == [2, 3]  # [since, until)
    assert seqs(store, after_seq=2, limit=1) == [3]
