"""The nonce insert, sent as precompiled driver SQL, stores exactly the values it was
given in the right columns on both backends (positional ``?`` and named parameters)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from isthmus.store import Store
from isthmus.store.schema import SeenNonceRow

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=64)


@pytest.fixture
def store(store_url: str) -> Store:
    s = Store(store_url)
    s.migrate()
    return s


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(source=texts, nonce=texts, expires_at=st.integers(0, 2**62))
def test_inserted_row_holds_the_given_values(
    store: Store, source: str, nonce: str, expires_at: int
) -> None:
    with store.session() as s:
        s.execute(SeenNonceRow.__table__.delete())
    assert store.nonces.remember(source, nonce, expires_at)
    assert not store.nonces.remember(source, nonce, expires_at + 1)
    with store.session() as s:
        rows = s.execute(select(SeenNonceRow)).scalars().all()
        assert [(r.source_node_id, r.nonce, r.expires_at) for r in rows] == [
            (source, nonce, expires_at)
        ]
