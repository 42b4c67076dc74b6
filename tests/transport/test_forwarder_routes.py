"""``partner_address``: the forwarder reaches a partner only at the address of its
APPROVED contract, and a cached route never outlives a committed contract change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event

from isthmus.store import Store
from isthmus.transport.forwarder import Route, partner_address
from isthmus.wire.errors import TransportRefused
from isthmus.wire.node import ContractStatus


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    s.migrate()
    yield s
    s.dispose()


def _approved(store: Store, contract_id: str, address: str, system: str = "isthmus") -> None:
    with store.session() as s:
        store.contracts.add(
            s,
            contract_id=contract_id,
            peer_node_id="NODE_B",
            direction="OUTBOUND",
            status=ContractStatus.APPROVED.value,
            peer_address=address,
            peer_name="B",
            peer_inst_id="IB",
            peer_institution="Inst B",
            peer_system=system,
            peer_system_version="0.1.0",
        )


def _reads(store: Store) -> list[str]:
    """Every SELECT on the contracts table from now on."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "contracts" in statement:
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


def test_a_route_is_read_once_while_no_contract_changes(store: Store) -> None:
    _approved(store, "c1", "http://b:1")
    resolve = partner_address(store, "isthmus")
    reads = _reads(store)
    assert resolve("NODE_B") == Route("http://b:1", native=True)
    assert resolve("NODE_B") == Route("http://b:1", native=True)
    assert len(reads) == 1


def test_a_revoked_contract_is_not_used_once_the_revocation_committed(store: Store) -> None:
    _approved(store, "c1", "http://b:1")
    resolve = partner_address(store, "isthmus")
    assert resolve("NODE_B").address == "http://b:1"
    with store.session() as s:
        store.contracts.transition(
            s, "c1", allowed_from=(ContractStatus.APPROVED.value,), to=ContractStatus.TERMINATED
        )
    with pytest.raises(TransportRefused):
        resolve("NODE_B")


def test_a_new_contract_moves_the_route_and_its_kind(store: Store) -> None:
    _approved(store, "c1", "http://b:1")
    resolve = partner_address(store, "isthmus")
    assert resolve("NODE_B") == Route("http://b:1", native=True)
    with store.session() as s:
        store.contracts.transition(
            s, "c1", allowed_from=(ContractStatus.APPROVED.value,), to=ContractStatus.TERMINATED
        )
    _approved(store, "c2", "http://b:2", system="secretflow")
    assert resolve("NODE_B") == Route("http://b:2", native=False)
