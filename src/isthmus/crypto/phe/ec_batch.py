"""EC-ElGamal batches on every core: the process pools of :mod:`.batch`, for EC-ElGamal.

Same design and guarantees as the Paillier pools (spawned workers, one key per pool
handed over once as the initializer's arguments, chunks in order, small batches in the
calling process): ``pool.encrypt(values)`` decrypts to ``values`` and
``pool.decrypt(cs)`` equals ``sk.decrypt_many(cs)``, whatever the number of workers.

An :class:`EcEncryptionPool` ships only the curve and ``h``; an :class:`EcDecryptionPool`
ships ``x``, the decryption bound and the table size, and each of its workers builds its
own discrete-log table at start-up (:meth:`warm_up`: about 2-3 s and 12 MiB per worker at
the default size), since a table cannot be shared between spawned processes without a
shared-memory segment, which is not worth its lifetime management here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from isthmus.crypto.phe.batch import MIN_PARALLEL, _chunks, _Pool
from isthmus.crypto.phe.ec_elgamal import (
    EcElGamalCiphertext,
    EcElGamalPrivateKey,
    EcElGamalPublicKey,
)
from isthmus.crypto.phe.ec_groups import group_for

_CHUNKS_PER_WORKER = 4
_worker_public: EcElGamalPublicKey | None = None
_worker_private: EcElGamalPrivateKey | None = None


def _init_encrypt_worker(curve: int, h: bytes) -> None:
    global _worker_public  # noqa: PLW0603 - per-process state is the point
    _worker_public = EcElGamalPublicKey(group_for(curve), h)
    _worker_public.encrypt(0)  # build the fixed-base table of h (SM2) up front


def _init_decrypt_worker(curve: int, h: bytes, x: int, bound: int, table_size: int) -> None:
    global _worker_private  # noqa: PLW0603 - per-process state is the point
    public = EcElGamalPublicKey(group_for(curve), h)
    _worker_private = EcElGamalPrivateKey(public, x, bound, table_size)
    _ = _worker_private.table  # build the discrete-log table up front


def _encrypt_chunk(values: Sequence[int]) -> list[EcElGamalCiphertext]:
    assert _worker_public is not None, "encryption worker started without its key"
    return _worker_public.encrypt_many(values)


def _decrypt_chunk(cs: Sequence[EcElGamalCiphertext]) -> list[int]:
    assert _worker_private is not None, "decryption worker started without its key"
    return _worker_private.decrypt_many(cs)


class _EcPool(_Pool):
    def _map_any(self, function: Any, items: list[Any]) -> list[Any]:
        executor = self._start()
        futures = [
            executor.submit(function, chunk)
            for chunk in _chunks(items, self.workers * _CHUNKS_PER_WORKER)
        ]
        result: list[Any] = []
        for future in futures:
            result.extend(future.result())
        return result


class EcEncryptionPool(_EcPool):
    """Encrypts batches under one EC-ElGamal public key (default: all cores)."""

    def __init__(
        self,
        public_key: EcElGamalPublicKey,
        workers: int | None = None,
        *,
        min_parallel: int = MIN_PARALLEL,
    ) -> None:
        super().__init__(workers, min_parallel)
        self.public_key = public_key

    def _initializer(self) -> tuple[Any, tuple[Any, ...]]:
        return _init_encrypt_worker, (self.public_key.group.curve_type, self.public_key.h)

    def encrypt(self, values: Iterable[int]) -> list[EcElGamalCiphertext]:
        """``[Enc(m) for m in values]``, in order; the range is checked here first."""
        pk = self.public_key
        checked = [pk.check_plaintext(m) for m in values]
        if not self._parallel(len(checked)):
            return pk.encrypt_many(checked)
        return self._map_any(_encrypt_chunk, checked)


class EcDecryptionPool(_EcPool):
    """Decrypts batches under one EC-ElGamal private key (default: all cores)."""

    def __init__(
        self,
        private_key: EcElGamalPrivateKey,
        workers: int | None = None,
        *,
        min_parallel: int = MIN_PARALLEL,
    ) -> None:
        super().__init__(workers, min_parallel)
        self.private_key = private_key

    def _initializer(self) -> tuple[Any, tuple[Any, ...]]:
        sk = self.private_key
        pk = sk.public
        return _init_decrypt_worker, (pk.group.curve_type, pk.h, sk.x, sk.bound, sk.table_size)

    def decrypt(self, ciphertexts: Iterable[EcElGamalCiphertext]) -> list[int]:
        """``sk.decrypt_many(ciphertexts)``, in order."""
        cs = list(ciphertexts)
        if not self._parallel(len(cs)):
            return self.private_key.decrypt_many(cs)
        return self._map_any(_decrypt_chunk, cs)
