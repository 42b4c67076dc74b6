"""EC-ElGamal pools (spawned workers) give exactly the in-process results."""

from __future__ import annotations

import pytest

from isthmus.crypto.phe.ec_batch import EcDecryptionPool, EcEncryptionPool
from isthmus.crypto.phe.ec_elgamal import generate_keypair
from isthmus.crypto.phe.errors import PlaintextOutOfRange


@pytest.mark.parametrize("curve", ["SM2", "ED25519"])
def test_pool_batch_equals_scalar(curve: str) -> None:
    pk, sk = generate_keypair(curve, bound=1 << 16, table_size=1 << 8)
    values = [*range(-20, 21), (1 << 16) - 1, -(1 << 16) + 1]
    with EcEncryptionPool(pk, workers=2, min_parallel=1) as encryptor:
        # the encryption workers are given the public key only
        assert encryptor._initializer()[1] == (pk.group.curve_type, pk.h)
        cs = encryptor.encrypt(values)
        with pytest.raises(PlaintextOutOfRange):
            encryptor.encrypt([pk.group.order])
    assert sk.decrypt_many(cs) == values
    with EcDecryptionPool(sk, workers=2, min_parallel=1) as decryptor:
        decryptor.warm_up()
        assert decryptor.decrypt(cs) == values
        assert decryptor.decrypt([]) == []
    with EcDecryptionPool(sk, workers=2) as small:  # below min_parallel: in process
        assert small.decrypt(cs[:3]) == values[:3]
        assert small._executor is None
