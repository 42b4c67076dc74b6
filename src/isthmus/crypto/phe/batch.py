"""Batch encryption and decryption over arrays, on every core for large batches.

A batch is any iterable of integers (a list, a NumPy integer array, a column); the
result is a list in the same order. Small batches (below ``min_parallel`` items) run in
the calling process; larger ones are cut into a few chunks per worker and run in a
process pool — GMP releases no GIL worth having for this, so threads would not help.

How keys reach the workers: each pool is bound to one key and hands it to its workers
once, as the arguments of the pool's initializer, pickled over the pipe that
``multiprocessing`` opens to each freshly *spawned* child (never a file, an environment
variable, a command line or a log). An :class:`EncryptionPool` receives only the public
key ``(n, hs)`` — encryption never needs, so never ships, the private key — and each
worker builds its own fixed-base table of ``hs`` at start-up. A :class:`DecryptionPool`
receives ``(p, q)`` because decrypting is what it is for; it lives in the key owner's
own child processes and dies with :meth:`close`.

The spawn start method is used on purpose: forking a node process that runs threads
(the event loop, gRPC) can deadlock the child, and a spawned child inherits nothing but
what the initializer is given.

Guarantee: ``pool.encrypt(values)`` decrypts to ``values`` and ``pool.decrypt(cs)``
equals ``[sk.decrypt(c) for c in cs]``, whatever the number of workers; range and
ciphertext checks run in the calling process first, so a bad item raises the same clear
error as the scalar call, before any work is shipped.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from types import TracebackType
from typing import Any, Final, Self

from isthmus.crypto.phe.paillier import PaillierPrivateKey, PaillierPublicKey

MIN_PARALLEL: Final = 64
"""Below this many items a batch runs in the calling process (pool overhead dominates)."""

_CHUNKS_PER_WORKER: Final = 4

# --- worker side: one key per worker process, set by the initializer -------------------

_worker_public: PaillierPublicKey | None = None
_worker_private: PaillierPrivateKey | None = None


def _init_encrypt_worker(n: int, hs: int) -> None:
    global _worker_public  # noqa: PLW0603 - per-process state is the point
    _worker_public = PaillierPublicKey(n, hs)
    _ = _worker_public.hs_table  # build the fixed-base table once, up front


def _init_decrypt_worker(n: int, hs: int, p: int, q: int) -> None:
    global _worker_private  # noqa: PLW0603 - per-process state is the point
    _worker_private = PaillierPrivateKey(p, q, PaillierPublicKey(n, hs))


def _encrypt_chunk(encoded: Sequence[int]) -> list[int]:
    assert _worker_public is not None, "encryption worker started without its key"
    return [_worker_public.encrypt_encoded(m) for m in encoded]


def _decrypt_chunk(ciphertexts: Sequence[int]) -> list[int]:
    assert _worker_private is not None, "decryption worker started without its key"
    return [_worker_private.decrypt(c) for c in ciphertexts]


def _ready() -> bool:
    return True


# --- caller side ----------------------------------------------------------------------


def _chunks(items: list[int], count: int) -> list[list[int]]:
    size = max(1, -(-len(items) // count))
    return [items[i : i + size] for i in range(0, len(items), size)]


class _Pool:
    """A lazily started spawn pool of ``workers`` processes bound to one key."""

    def __init__(self, workers: int | None, min_parallel: int) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self.min_parallel = min_parallel
        self._executor: Executor | None = None

    def _initializer(self) -> tuple[Any, tuple[int, ...]]:
        raise NotImplementedError

    def _start(self) -> Executor:
        if self._executor is None:
            function, args = self._initializer()
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=function,
                initargs=args,
            )
        return self._executor

    def warm_up(self) -> None:
        """Start every worker now (keys loaded, tables built), not on the first batch."""
        if self.workers == 1:
            return
        executor = self._start()
        # one trivial task per worker forces the pool to spawn all of them
        for future in [executor.submit(_ready) for _ in range(self.workers)]:
            future.result()

    def _map(self, function: Any, items: list[int]) -> list[int]:
        executor = self._start()
        futures = [
            executor.submit(function, chunk)
            for chunk in _chunks(items, self.workers * _CHUNKS_PER_WORKER)
        ]
        result: list[int] = []
        for future in futures:
            result.extend(future.result())
        return result

    def _parallel(self, count: int) -> bool:
        return self.workers > 1 and count >= self.min_parallel

    def close(self) -> None:
        """Stop the workers (and with a decryption pool, the copies of the key)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EncryptionPool(_Pool):
    """Encrypts batches under one public key on ``workers`` processes (default: all cores)."""

    def __init__(
        self,
        public_key: PaillierPublicKey,
        workers: int | None = None,
        *,
        min_parallel: int = MIN_PARALLEL,
    ) -> None:
        super().__init__(workers, min_parallel)
        self.public_key = public_key

    def _initializer(self) -> tuple[Any, tuple[int, ...]]:
        return _init_encrypt_worker, (self.public_key.n, self.public_key.hs)

    def encrypt(self, values: Iterable[int]) -> list[int]:
        """``[Enc(m) for m in values]`` (signed integers), in order."""
        pk = self.public_key
        encoded = [pk.encode_signed(m) for m in values]
        if not self._parallel(len(encoded)):
            return [pk.encrypt_encoded(m) for m in encoded]
        return self._map(_encrypt_chunk, encoded)


class DecryptionPool(_Pool):
    """Decrypts batches under one private key on ``workers`` processes (default: all cores)."""

    def __init__(
        self,
        private_key: PaillierPrivateKey,
        workers: int | None = None,
        *,
        min_parallel: int = MIN_PARALLEL,
    ) -> None:
        super().__init__(workers, min_parallel)
        self.private_key = private_key

    def _initializer(self) -> tuple[Any, tuple[int, ...]]:
        sk = self.private_key
        return _init_decrypt_worker, (sk.public_key.n, sk.public_key.hs, sk.p, sk.q)

    def decrypt(self, ciphertexts: Iterable[int]) -> list[int]:
        """``[Dec(c) for c in ciphertexts]`` as signed integers, in order."""
        sk = self.private_key
        checked = [int(sk.public_key.check_ciphertext(c)) for c in ciphertexts]
        if not self._parallel(len(checked)):
            return [sk.decrypt(c) for c in checked]
        return self._map(_decrypt_chunk, checked)


def encrypt_batch(
    public_key: PaillierPublicKey, values: Iterable[int], *, workers: int | None = 1
) -> list[int]:
    """One-shot batch encryption; ``workers=None`` uses all cores (a pool per call)."""
    with EncryptionPool(public_key, workers) as pool:
        return pool.encrypt(values)


def decrypt_batch(
    private_key: PaillierPrivateKey, ciphertexts: Iterable[int], *, workers: int | None = 1
) -> list[int]:
    """One-shot batch decryption; ``workers=None`` uses all cores (a pool per call)."""
    with DecryptionPool(private_key, workers) as pool:
        return pool.decrypt(ciphertexts)
