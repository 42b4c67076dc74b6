"""The signed request's fast path keeps every check: a replay is refused whichever way
its nonce was recorded (on the event loop's no-wait connection, or in the thread pool
when that would have had to wait), refusals are still counted, and
``node/contract/query`` answers the bytes it answered through the ORM and pydantic.

In-process nodes (``InProcessCluster``): the checks are the node's, not the sockets'.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from isthmus.management.contracts import SelfDescription
from isthmus.node.api.contracts import json_ok, query_answer
from isthmus.peer.signing import sign_request
from isthmus.store import Store
from isthmus.store.contracts_read import ContractStatusRow
from isthmus.store.nowait import Busy, NoWaitConnection
from isthmus.testing.inprocess import InProcessCluster, InProcessNode
from isthmus.wire import paths
from isthmus.wire.envelope import ok
from isthmus.wire.errors import ErrorCode
from isthmus.wire.node import ContractQueryResult, ContractStatus, NodeInfo

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def pair() -> AsyncIterator[tuple[InProcessNode, InProcessNode, str]]:
    async with InProcessCluster() as cluster:
        a, b = await cluster.start(2)
        contract_id = await cluster.connect(a, b)
        yield a, b, contract_id


def signed_query_headers(a: InProcessNode, b: InProcessNode, contract_id: str) -> dict[str, str]:
    return sign_request(
        a.ctx.identity,
        method="GET",
        path=paths.NODE_CONTRACT_QUERY,
        query=f"contract_id={contract_id}",
        target_node_id=b.node_id,
        body=b"",
    )


async def ask(b: InProcessNode, contract_id: str, headers: dict[str, str]) -> httpx.Response:
    return await b.interconn.get(
        paths.NODE_CONTRACT_QUERY, params={"contract_id": contract_id}, headers=headers
    )


def refusals(b: InProcessNode, reason: str) -> float:
    value = b.ctx.metrics.auth_refusals.labels(reason=reason)._value.get()
    return float(value)


@pytest.fixture
def no_wait_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every no-wait statement would have had to wait: the thread-pool path runs."""

    def busy(self: NoWaitConnection, sql: str, parameters: Any) -> Any:
        raise Busy

    monkeypatch.setattr(NoWaitConnection, "execute", busy)


@pytest.mark.parametrize("path", ["no-wait", "thread pool"])
async def test_a_replay_is_refused_and_counted(
    pair: tuple[InProcessNode, InProcessNode, str], path: str, request: pytest.FixtureRequest
) -> None:
    a, b, contract_id = pair
    if path == "thread pool":
        request.getfixturevalue("no_wait_busy")
    headers = signed_query_headers(a, b, contract_id)
    first = await ask(b, contract_id, headers)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["status"] == "APPROVED"
    before = refusals(b, "REPLAYED_NONCE")
    again = await ask(b, contract_id, headers)
    assert again.json()["code"] == ErrorCode.REPLAYED_NONCE, again.text
    assert refusals(b, "REPLAYED_NONCE") == before + 1


async def test_both_paths_share_one_replay_window(
    pair: tuple[InProcessNode, InProcessNode, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nonce accepted on the event loop is refused by the thread-pool path, and back."""
    a, b, contract_id = pair
    on_loop = signed_query_headers(a, b, contract_id)
    assert (await ask(b, contract_id, on_loop)).status_code == 200
    with monkeypatch.context() as patch:
        patch.setattr(NoWaitConnection, "execute", lambda *_: (_ for _ in ()).throw(Busy()))
        refused = await ask(b, contract_id, on_loop)
        assert refused.json()["code"] == ErrorCode.REPLAYED_NONCE
        in_pool = signed_query_headers(a, b, contract_id)
        assert (await ask(b, contract_id, in_pool)).status_code == 200
    refused = await ask(b, contract_id, in_pool)
    assert refused.json()["code"] == ErrorCode.REPLAYED_NONCE


async def test_a_bad_signature_is_refused_on_the_loop_and_audited(
    pair: tuple[InProcessNode, InProcessNode, str],
) -> None:
    a, b, contract_id = pair
    headers = signed_query_headers(a, b, contract_id)
    headers["x-nonce"] = headers["x-nonce"][::-1]  # no longer what was signed
    before = refusals(b, "BAD_SIGNATURE")
    response = await ask(b, contract_id, headers)
    assert response.json()["code"] == ErrorCode.BAD_SIGNATURE
    assert refusals(b, "BAD_SIGNATURE") == before + 1


async def test_another_partners_contract_is_not_found(
    pair: tuple[InProcessNode, InProcessNode, str], request: pytest.FixtureRequest
) -> None:
    a, b, contract_id = pair
    for busy in (False, True):
        if busy:
            request.getfixturevalue("no_wait_busy")
        other = "not-" + contract_id
        response = await ask(b, other, signed_query_headers(a, b, other))
        assert response.json()["code"] == ErrorCode.NOT_FOUND, response.text


# --- the no-wait connection --------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One migrated store for the module (migrations cost seconds); nonces differ per test."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('nowait') / 'node.db'}")
    store.migrate()
    yield store
    store.dispose()


def test_remember_now_commits_what_remember_sees(store: Store) -> None:
    assert store.nonces.remember_now("NODE_A", "c1", 10**13)
    assert not store.nonces.remember_now("NODE_A", "c1", 10**13)
    assert not store.nonces.remember("NODE_A", "c1", 10**13)  # another connection sees it
    assert store.nonces.remember("NODE_A", "c2", 10**13)
    assert not store.nonces.remember_now("NODE_A", "c2", 10**13)


def test_a_held_write_lock_makes_it_busy_not_wait(store: Store) -> None:
    from isthmus.store.contracts_read import status_reader

    reader = status_reader(store.engine)
    writer = sqlite3.connect(str(store.engine.url.database), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another writer holds the database
        with pytest.raises(Busy):
            store.nonces.remember_now("NODE_A", "h1", 10**13)
        assert reader.status_now("no-such-contract") is None  # a WAL reader does not wait
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert store.nonces.remember_now("NODE_A", "h1", 10**13)


def test_only_an_sqlite_file_has_a_no_wait_path(tmp_path: Path) -> None:
    memory = Store("sqlite://")
    try:
        with pytest.raises(Busy):
            memory.nonces.remember_now("NODE_A", "n1", 10**13)
    finally:
        memory.dispose()
    disposed = Store(f"sqlite:///{tmp_path / 'gone.db'}")
    disposed.migrate()
    disposed.dispose()
    with pytest.raises(Busy):
        disposed.nonces.remember_now("NODE_A", "n1", 10**13)


# --- the answer's bytes ------------------------------------------------------------------

_ME = SelfDescription(
    info=NodeInfo(node_id="NODE_B"), auth_type="ED25519", auth_credential="", tls_fingerprint=None
)


def _reference_app() -> tuple[FastAPI, dict[str, Any]]:
    """The route's former rendering (a ``ContractQueryResult`` filled as
    ``receive_query`` did, dumped, returned as ``dict[str, Any]``) beside the new one."""
    app, case = FastAPI(), {}

    @app.get("/old")
    async def old() -> dict[str, Any]:
        row, me, report = case["row"], case["me"], case["report"]
        result = ContractQueryResult(status=ContractStatus(row.status))
        if row.status == ContractStatus.APPROVED:
            result.auth_credential = me.auth_credential
            result.auth_type = me.auth_type
            result.expired_time = row.expired_time
            result.tls_cert_fingerprint = me.tls_fingerprint
            result.tee_report = report
        return ok(result.model_dump(exclude_none=True))

    @app.get("/new")
    async def new() -> Any:
        return json_ok(query_answer(case["row"], case["me"], case["report"]))

    return app, case


@pytest.fixture(scope="module")
def reference() -> Iterator[tuple[TestClient, dict[str, Any]]]:
    app, case = _reference_app()
    with TestClient(app) as client:
        yield client, case


_TEXT = st.text(max_size=40)


@given(
    # APPROVED half the time: it is the answer with every field
    status=st.just(ContractStatus.APPROVED) | st.sampled_from(list(ContractStatus)),
    expired=st.none() | st.integers(min_value=0, max_value=2**63 - 1),
    credential=_TEXT,
    suite=_TEXT,
    pin=st.none() | _TEXT,
    report=st.none() | _TEXT,
)
@example(ContractStatus.APPROVED, None, "k\n", "ED25519", None, "")
@example(ContractStatus.APPROVED, 0, "", "", "", None)
@example(ContractStatus.APPLIED, 5, "\u4e2d", "SM2_SM3", "ab", "r")
@settings(max_examples=60, deadline=None)
def test_contract_query_answers_the_same_bytes(
    reference: tuple[TestClient, dict[str, Any]],
    status: ContractStatus,
    expired: int | None,
    credential: str,
    suite: str,
    pin: str | None,
    report: str | None,
) -> None:
    client, case = reference
    case["row"] = ContractStatusRow("C1", "NODE_A", status.value, expired)
    case["me"] = SelfDescription(
        info=_ME.info, auth_type=suite, auth_credential=credential, tls_fingerprint=pin
    )
    case["report"] = report
    old, new = client.get("/old"), client.get("/new")
    assert new.content == old.content
    assert new.headers["content-type"] == old.headers["content-type"]
    assert new.headers["content-length"] == old.headers["content-length"]


def test_a_reader_does_not_keep_its_store_alive(tmp_path: Path) -> None:
    import gc
    import weakref

    from isthmus.store.contracts_read import status_reader

    store = Store(f"sqlite:///{tmp_path / 'node.db'}")
    store.migrate()
    assert status_reader(store.engine) is status_reader(store.engine)
    engine = weakref.ref(store.engine)
    store.dispose()
    del store
    gc.collect()
    assert engine() is None
