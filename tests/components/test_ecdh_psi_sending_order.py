"""Our sending order is a secret-keyed function of the key, not a public one: the same
input sent twice (two runs, two fresh secrets) goes out in different orders, in both
spools, and under one secret the order does not follow the input order."""

from __future__ import annotations

import hashlib
import itertools
import tempfile
import zlib
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.components.builtin.ecdh_psi.hashed import HashedSpool
from isthmus.components.builtin.ecdh_psi.sending_order import SendingOrder
from isthmus.components.builtin.ecdh_psi.spool import ItemSpool
from isthmus.crypto.ecdh import CURVE25519

KEYS = [b"user%06d" % i for i in range(2000)]


def _sent(kind: str, keys: list[bytes], secret: bytes | None = None) -> list[bytes]:
    """The keys in the order the spool sends them (points mapped back to keys)."""
    order = SendingOrder(secret)
    with tempfile.TemporaryDirectory() as work:
        if kind == "item":
            spool = ItemSpool(Path(work), order=order)
            spool.build(keys)
            return [k for batch in spool.batches(97) for k in batch]
        by_point = {hashlib.sha256(k).digest(): k for k in keys}
        hashed = HashedSpool(Path(work), CURVE25519.hash_packed, 32, order=order)
        hashed.build(keys)
        packed = b"".join(hashed.batches(97))
        return [by_point[packed[i : i + 32]] for i in range(0, len(packed), 32)]


def _public_bucket_runs(sent: list[bytes]) -> int:
    """How many runs of equal SHA-256 first bytes the sending order has (256 if it
    were sent bucket by bucket on that public function, ~len(sent) if not)."""
    buckets = [hashlib.sha256(k).digest()[0] for k in sent]
    return 1 + sum(a != b for a, b in itertools.pairwise(buckets))


def test_two_runs_send_the_same_input_in_different_orders() -> None:
    for kind in ("item", "hashed"):
        first, second = _sent(kind, KEYS), _sent(kind, KEYS)
        assert sorted(first) == sorted(second) == KEYS
        assert first != second, kind
        assert _public_bucket_runs(first) > 1000, kind  # not bucketed by a public hash
        crc_runs = np.count_nonzero(np.diff([zlib.crc32(k) % 256 for k in first]))
        assert crc_runs > 1000, kind  # nor by CRC-32 (the old ItemSpool split)


def test_one_secret_gives_one_order_and_it_is_not_the_input_order() -> None:
    secret = bytes(range(16))
    for kind in ("item", "hashed"):
        sent = _sent(kind, KEYS, secret)
        assert sent == _sent(kind, KEYS, secret)
        assert sent != KEYS and sent != sorted(KEYS)
        assert sent == _sent(kind, list(reversed(KEYS)), secret)  # input order is gone


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.binary(min_size=0, max_size=5), max_size=200), st.binary(min_size=16, max_size=16)
)
def test_the_order_depends_only_on_the_key_set(keys: list[bytes], secret: bytes) -> None:
    for kind in ("item", "hashed"):
        sent = _sent(kind, keys, secret)
        assert sorted(sent) == sorted(set(keys))
        assert sent == _sent(kind, sorted(set(keys), reverse=True), secret)
