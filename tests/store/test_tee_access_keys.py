"""UAS access keys (issue 17): the node keeps only the secret's SHA-256, so a copy of its
database lets no one call the UAS; an unknown key and a wrong secret are told apart only
by the store (the endpoint answers both alike); a revoked key stays listed."""

from __future__ import annotations

import hashlib

from isthmus.store import Store
from isthmus.store.schema import TeeAccessKeyRow
from isthmus.store.tee_keys import KeyCheck


def test_only_the_secrets_digest_is_stored(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    with store.session() as s:
        view, secret = store.tee_keys.create(s, label="app X")
    with store.session() as s:
        row = s.get(TeeAccessKeyRow, view.access_key)
        assert row is not None
        stored = [str(v) for v in (row.access_key, row.secret_sha256, row.label)]
        assert all(secret not in value for value in stored)
        assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
        assert store.tee_keys.check(s, view.access_key, secret) is KeyCheck.OK
        assert store.tee_keys.check(s, view.access_key, row.secret_sha256) is not KeyCheck.OK
        assert store.tee_keys.check(s, "tak_0000000000000000", secret) is KeyCheck.UNKNOWN
        assert store.tee_keys.check(s, view.access_key, secret + "x") is KeyCheck.WRONG_SECRET
    with store.session() as s:
        store.tee_keys.revoke(s, view.access_key)
    with store.session() as s:
        assert store.tee_keys.check(s, view.access_key, secret) is KeyCheck.REVOKED
        assert [v.access_key for v in store.tee_keys.list(s)] == [view.access_key]
