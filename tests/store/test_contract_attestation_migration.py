"""Migration 0010 adds the contract attestation columns and takes them away again, on
SQLite and PostgreSQL, keeping the contracts that were there (they require nothing)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from isthmus.store import Store
from isthmus.store.db import alembic_config

COLUMNS = {
    "tee_policy",
    "peer_tee_platform",
    "peer_tee_valid_until",
    "peer_tee_checked_at",
    "peer_tee_status",
}


def _columns(store: Store) -> set[str]:
    return {c["name"] for c in inspect(store.engine).get_columns("contracts")}


def _move(store: Store, revision: str, *, down: bool) -> None:
    with store.engine.begin() as connection:
        cfg = alembic_config(store.url)
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_the_attestation_columns_come_and_go_with_the_migration(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.migrate()
        assert _columns(store) >= COLUMNS
        with store.session() as s:
            store.contracts.add(
                s, contract_id="c1", peer_node_id="NODE_B", direction="INBOUND", status="APPLIED"
            )
        _move(store, "0009_tee_access_keys", down=True)
        assert not COLUMNS & _columns(store)
        _move(store, "head", down=False)
        assert _columns(store) >= COLUMNS
        with store.session() as s:
            row = store.contracts.require(s, "c1")
            assert row.tee_policy is None and row.peer_tee_valid_until is None
    finally:
        store.dispose()
