"""Batches (in process and on a spawn pool) give exactly the scalar results."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto.phe import (
    DecryptionPool,
    EncryptionPool,
    MalformedCiphertext,
    PaillierPrivateKey,
    PaillierPublicKey,
    PlaintextOutOfRange,
    decrypt_batch,
    encrypt_batch,
)

VALUES = st.lists(st.integers(min_value=-(2**500), max_value=2**500), max_size=20)


@settings(max_examples=20, deadline=None)
@given(values=VALUES)
def test_in_process_batch(pk: PaillierPublicKey, sk: PaillierPrivateKey, values: list[int]) -> None:
    cs = encrypt_batch(pk, values)
    assert [sk.decrypt(c) for c in cs] == values
    assert decrypt_batch(sk, cs) == values


def test_pool_batch_equals_scalar(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    values = [*range(-40, 41), pk.max_plaintext, -pk.max_plaintext]
    with EncryptionPool(pk, workers=2, min_parallel=1) as encryptor:
        # the encryption workers are given the public key only
        assert encryptor._initializer()[1] == (pk.n, pk.hs)
        cs = encryptor.encrypt(values)
    assert [sk.decrypt(c) for c in cs] == values
    with DecryptionPool(sk, workers=2, min_parallel=1) as decryptor:
        assert decryptor.decrypt(cs) == values
        assert decryptor.decrypt([]) == []


def test_bad_items_fail_before_any_work(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    pool = EncryptionPool(pk, workers=2, min_parallel=1)
    with pytest.raises(PlaintextOutOfRange):
        pool.encrypt([1, 2, pk.max_plaintext + 1])
    assert pool._executor is None  # refused in the caller, no worker was started
    decryptor = DecryptionPool(sk, workers=2, min_parallel=1)
    with pytest.raises(MalformedCiphertext):
        decryptor.decrypt([pk.encrypt(1), 0])
    assert decryptor._executor is None
