"""The store's contract: the same behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect, text

from isthmus.store import Store
from isthmus.store.audit import GENESIS_HASH
from isthmus.wire.errors import NotFound, StateConflict
from isthmus.wire.node import ContractStatus


@pytest.fixture
def store(store_url: str) -> Store:
    s = Store(store_url)
    s.migrate()
    yield s
    s.dispose()


def _contract(
    store: Store,
    contract_id: str,
    peer: str = "NODE_B",
    status: str = "APPLIED",
    direction: str = "INBOUND",
) -> None:
    with store.session() as s:
        store.contracts.add(
            s,
            contract_id=contract_id,
            peer_node_id=peer,
            direction=direction,
            status=status,
            peer_address="http://b",
            peer_name="B",
            peer_inst_id="IB",
            peer_institution="Inst B",
            peer_system="isthmus",
            peer_system_version="0.1.0",
        )


def test_migration_upgrades_an_empty_database_to_head(store_url: str) -> None:
    s = Store(store_url)
    assert s.current_revision() is None
    s.migrate()
    assert s.current_revision() == "0010_contract_attestation"
    tables = set(inspect(s.engine).get_table_names())
    assert {
        "contracts",
        "seen_nonces",
        "audit_events",
        "audit_head",
        "outbox",
        "transport_sessions",
        "transport_streams",
        "transport_out",
        "transport_in",
        "transport_fragments",
    } <= tables
    s.migrate()  # idempotent
    assert s.current_revision() == "0010_contract_attestation"
    with s.engine.connect() as conn:
        head = conn.execute(text("SELECT last_seq, last_hash FROM audit_head")).one()
    assert tuple(head) == (0, GENESIS_HASH)
    s.dispose()


def test_contract_transitions_are_conditional(store: Store) -> None:
    _contract(store, "c1")
    with store.session() as s:
        row = store.contracts.transition(
            s, "c1", allowed_from=("APPLIED",), to=ContractStatus.APPROVED, decided_by="op"
        )
        assert row.status == "APPROVED" and row.decided_by == "op"
    with pytest.raises(StateConflict) as excinfo, store.session() as s:
        store.contracts.transition(s, "c1", allowed_from=("APPLIED",), to=ContractStatus.REJECTED)
    assert excinfo.value.details["status"] == "APPROVED"
    with pytest.raises(NotFound), store.session() as s:
        store.contracts.transition(s, "nope", allowed_from=("APPLIED",), to=ContractStatus.APPROVED)


def test_a_failed_transaction_changes_nothing(store: Store) -> None:
    _contract(store, "c1")
    with pytest.raises(RuntimeError), store.session() as s:
        store.contracts.transition(s, "c1", allowed_from=("APPLIED",), to=ContractStatus.APPROVED)
        store.audit.append(s, actor="t", action="x")
        raise RuntimeError("boom")
    with store.session() as s:
        assert store.contracts.require(s, "c1").status == "APPLIED"
        assert store.audit.head(s) == (0, GENESIS_HASH)


def test_active_contract_prefers_approved_and_latest_falls_back(store: Store) -> None:
    _contract(store, "old", status="TERMINATED")
    with store.session() as s:
        assert store.contracts.active_for_peer(s, "NODE_B") is None
        latest = store.contracts.latest_for_peer(s, "NODE_B")
        assert latest is not None and latest.contract_id == "old"
    _contract(store, "pending", status="APPLIED")
    _contract(store, "good", status="APPROVED")
    with store.session() as s:
        active = store.contracts.active_for_peer(s, "NODE_B")
        assert active is not None and active.contract_id == "good"
        assert [r.contract_id for r in store.contracts.list(s, status="APPLIED")] == ["pending"]


def test_nonce_is_accepted_once_and_pruned_after_expiry(store: Store) -> None:
    assert store.nonces.remember("NODE_B", "n1", expires_at=1000)
    assert not store.nonces.remember("NODE_B", "n1", expires_at=1000)
    assert store.nonces.remember("NODE_C", "n1", expires_at=1000)  # per partner
    with store.session() as s:
        assert store.nonces.prune(s, now=2000) == 2
    assert store.nonces.remember("NODE_B", "n1", expires_at=3000)


def test_racing_replays_let_exactly_one_through(store: Store) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        results.append(store.nonces.remember("NODE_B", "same", expires_at=10**15))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def test_audit_chain_verifies_and_concurrent_appends_never_fork(store: Store) -> None:
    def writer(n: int) -> None:
        for i in range(10):
            store.audit.record(actor=f"w{n}", action="test.event", details={"i": i})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = store.audit.verify()
    assert verdict.ok, verdict
    assert verdict.checked == 40 and verdict.last_seq == 40


@pytest.mark.parametrize(
    ("statements", "problem"),
    [
        (["UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"], "does not match its hash"),
        (["DELETE FROM audit_events WHERE seq = 2"], "sequence gap"),
        (["DELETE FROM audit_events WHERE seq = 3"], "removed"),
        (  # swap events 1 and 2 by renumbering through a temporary value
            [
                "UPDATE audit_events SET seq = -1 WHERE seq = 1",
                "UPDATE audit_events SET seq = 1 WHERE seq = 2",
                "UPDATE audit_events SET seq = 2 WHERE seq = -1",
            ],
            "broken link",
        ),
    ],
    ids=["edit", "delete-middle", "delete-last", "reorder"],
)
def test_audit_verify_detects_tampering(store: Store, statements: list[str], problem: str) -> None:
    for i in range(3):
        store.audit.record(actor="op", action="test.event", details={"i": i})
    assert store.audit.verify().ok
    with store.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    verdict = store.audit.verify()
    assert not verdict.ok
    assert verdict.problem is not None and problem in verdict.problem


def test_outbox_backs_off_and_delivers(store: Store) -> None:
    with store.session() as s:
        message_id = store.outbox.enqueue(
            s, peer_node_id="NODE_B", address="http://b", method="POST", path="/x", body={"a": 1}
        )
    with store.session() as s:
        due = store.outbox.due(s)
        assert [m.id for m in due] == [message_id]
        row = store.outbox.mark_failed(s, message_id, "down")
        assert row is not None and row.attempts == 1 and not row.dead
    with store.session() as s:
        assert store.outbox.due(s) == []  # backing off
        assert [m.id for m in store.outbox.pending(s)] == [message_id]
        store.outbox.mark_delivered(s, message_id)
    with store.session() as s:
        assert store.outbox.pending(s) == []


def test_contract_version_moves_only_when_a_change_commits(store: Store) -> None:
    start = store.contracts.version
    _contract(store, "c1")
    assert store.contracts.version == start + 1
    with pytest.raises(RuntimeError), store.session() as s:
        store.contracts.transition(s, "c1", allowed_from=("APPLIED",), to=ContractStatus.APPROVED)
        assert store.contracts.version == start + 1  # not yet committed
        raise RuntimeError("rolled back")
    assert store.contracts.version == start + 1
    with store.session() as s:
        store.contracts.list(s)  # reads do not move it
    assert store.contracts.version == start + 1


def test_migrations_produce_exactly_the_declared_schema(store: Store) -> None:
    """The ORM tables and the Alembic history must not drift apart."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from isthmus.store.schema import Base

    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_migration_0003_marks_streams_already_received(store_url: str) -> None:
    """A node upgraded with unread messages keeps refusing their resends."""
    from alembic import command

    from isthmus.store.db import alembic_config

    s = Store(store_url)
    with s.engine.begin() as connection:
        cfg = alembic_config(store_url)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0002")
        connection.exec_driver_sql(
            "INSERT INTO transport_sessions VALUES ('s1', 'x', 'OPEN', 1, 1, NULL, 0, 0, 2, 2)"
        )
        for seq in (3, 4):
            connection.exec_driver_sql(
                "INSERT INTO transport_in (session_id, peer_node_id, topic, seq, payload, "
                f"created_at) VALUES ('s1', 'NODE_A', 't', {seq}, x'00', 1)"
                if s.engine.dialect.name == "sqlite"
                else "INSERT INTO transport_in (session_id, peer_node_id, topic, seq, payload, "
                f"created_at) VALUES ('s1', 'NODE_A', 't', {seq}, '\\x00'::bytea, 1)"
            )
    s.migrate()
    with s.engine.connect() as connection:
        marks = connection.exec_driver_sql(
            "SELECT session_id, peer_node_id, received_upto FROM transport_in_streams"
        ).all()
    assert [tuple(m) for m in marks] == [("s1", "NODE_A", 4)]
    s.dispose()
