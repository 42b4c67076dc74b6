"""Permit checks and counted uses on SQLite and PostgreSQL: every refusal names its
reason, and concurrent uses of a limited permit never exceed the limit."""

from __future__ import annotations

import threading

from isthmus.store import Store
from isthmus.store.permits import Refusal
from isthmus.store.schema import PermitRow
from isthmus.wire.clock import now_ms

RESOURCE = ("DATASET", "bank#customers")


def grant(store: Store, token: str, **limits: int) -> None:
    with store.session() as s:
        store.permits.grant(
            s,
            token=token,
            audit_id=f"audit-{token[:6]}",
            resource_type=RESOURCE[0],
            resource_id=RESOURCE[1],
            resource_level=1,
            request_node_id="NODE_A",
            time_limit=limits.get("time_limit", -1),
            times_limit=limits.get("times_limit", -1),
        )


def check(store: Store, token: str, node: str = "NODE_A") -> PermitRow | Refusal:
    with store.session() as s:
        return store.permits.check(s, token, request_node_id=node, covers={RESOURCE})


def test_each_refusal_says_why(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    grant(store, "t" * 43, times_limit=1)
    grant(store, "e" * 43, time_limit=now_ms() - 1)
    assert isinstance(check(store, "t" * 43), PermitRow)
    assert check(store, "x" * 43) == Refusal("is not a permit this node granted")
    assert check(store, "t" * 43, "NODE_Z") == Refusal("was granted to NODE_A, not NODE_Z")
    with store.session() as s:
        other = store.permits.check(
            s, "t" * 43, request_node_id="NODE_A", covers={("DATASET", "x")}
        )
    assert other == Refusal("is for dataset bank#customers")
    assert "expired at" in str(check(store, "e" * 43))
    with store.session() as s:
        row = store.permits.check(s, "t" * 43, request_node_id="NODE_A", covers={RESOURCE})
        assert isinstance(row, PermitRow) and store.permits.use(s, row)
    assert check(store, "t" * 43) == Refusal("was used 1 of 1 times")
    with store.session() as s:
        assert store.permits.revoke_audit(s, "audit-tttttt") == 1
    assert check(store, "t" * 43) == Refusal("was revoked")
    store.dispose()


def test_concurrent_uses_never_exceed_the_limit(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    grant(store, "c" * 43, times_limit=3)
    with store.session() as s:
        row = s.get(PermitRow, check(store, "c" * 43).token_sha256)  # type: ignore[union-attr]
    wins: list[bool] = []
    barrier = threading.Barrier(12)

    def use() -> None:
        barrier.wait()
        with store.session() as s:
            wins.append(store.permits.use(s, row))  # type: ignore[arg-type]

    threads = [threading.Thread(target=use) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(wins) == 3 and len(wins) == 12
    assert check(store, "c" * 43) == Refusal("was used 3 of 3 times")
    store.dispose()
