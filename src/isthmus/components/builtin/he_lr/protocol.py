"""HE-LR training and prediction over the white-box link (docs/protocol.md §14).

Vertical logistic regression, mini-batch SGD with L2, between the label holder (rank 0,
the only Paillier key owner) and one or more feature holders (ranks 1..), no third
party. Per mini-batch ``B``:

1. every feature holder sends its partial scores ``u_p = X_p[B] w_p`` as fixed point,
   masked so that the holders' masks cancel in the sum (codec.py): rank 0 learns
   ``s = sum_p u_p`` per row, not any one holder's ``u_p`` (with one holder, ``s = u_1``:
   the accepted leak of this variant, docs/protocol.md §14.5);
2. rank 0 computes ``d = sigmoid(X_0 w_0 + b + s) - y``, updates its own weights and
   intercept in the clear, and sends ``[[d]]`` (Paillier, fixed point) to every holder;
3. holder ``p`` computes ``[[X_p^T d]]`` homomorphically, adds a uniform mask ``R_p``
   ``sigma = 80`` bits wider than the gradient's bound, **re-randomises** (rank 0 knows
   the randomness of ``[[d]]``; without it the product could betray ``X_p``), and sends
   ``[[X_p^T d + R_p]]``;
4. rank 0 decrypts and returns ``X_p^T d + R_p``; the holder removes ``R_p`` and takes
   its SGD step ``w_p -= lr * (X_p^T d / |B| + l2 * w_p)``.

After each epoch rank 0 sends a boolean: go on (true) or stop (false; last epoch, or the
epoch's mean log-loss moved by less than ``tol``). The update is exactly plain SGD's
(``reference_sgd``) up to the 2^-20 fixed-point truncation of ``d`` and ``x``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gmpy2
import numpy as np

from isthmus.components.builtin.he_lr import codec
from isthmus.components.errors import AlgorithmError
from isthmus.crypto.phe import (
    DecryptionPool,
    EncryptionPool,
    PaillierPublicKey,
    PheError,
    generate_keypair,
)
from isthmus.link import LinkContext
from isthmus.wire.errors import InvalidKey, MalformedExchange
from isthmus.wire.exchange import PPCA, Array, Container, ScalarType, expect, pack_scalar, unpack
from isthmus.wire.exchange_he import PaillierPublicKey as WireKey
from isthmus.wire.exchange_he import (
    pack_paillier_ciphertexts,
    pack_paillier_public_key,
    unpack_paillier_ciphertexts,
    unpack_paillier_public_key,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Hyper:
    """The negotiated hyper-parameters (rank 0's)."""

    learning_rate: float
    epochs: int
    batch_size: int
    l2: float
    tol: float

    @classmethod
    def from_dict(cls, values: dict[str, float]) -> Hyper:
        return cls(
            float(values["learning_rate"]),
            int(values["epochs"]),
            int(values["batch_size"]),
            float(values["l2"]),
            float(values["tol"]),
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "learning_rate": self.learning_rate,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "l2": self.l2,
            "tol": self.tol,
        }


@dataclass
class TrainResult:
    """One party's model and the training history (rank 0 only has ``losses``)."""

    weights: Array
    intercept: float = 0.0
    losses: list[float] = field(default_factory=list)
    epochs_run: int = 0


def sigmoid(z: Array) -> Array:
    """The logistic function, without overflow for large ``|z|``."""
    out: Array = np.empty_like(z, dtype=np.float64)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    e = np.exp(z[~positive])
    out[~positive] = e / (1.0 + e)
    return out


def log_loss(p: Array, y: Array) -> float:
    eps = 1e-15
    clipped = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))


def epoch_orders(rows: int, seed: int) -> Iterator[Array]:
    """Rank 0's row order of each epoch (a fresh permutation per epoch from ``seed``)."""
    rng = np.random.default_rng(seed)
    while True:
        yield rng.permutation(rows)


def batches(order: Array, batch_size: int) -> Iterator[Array]:
    """Consecutive slices of ``order``; the last one may be shorter (it is kept)."""
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def reference_sgd(x: Array, y: Array, hyper: Hyper, seed: int) -> tuple[Array, float, list[float]]:
    """Plain mini-batch SGD on the joined features: what HE-LR computes, in the clear
    (the reference of the tests and the benchmark). Returns (w, b, epoch losses)."""
    w = np.zeros(x.shape[1])
    b = 0.0
    losses: list[float] = []
    orders = epoch_orders(len(y), seed)
    for _ in range(hyper.epochs):
        order = next(orders)
        total = 0.0
        for rows in batches(order, hyper.batch_size):
            p = sigmoid(x[rows] @ w + b)
            total += log_loss(p, y[rows]) * len(rows)
            d = p - y[rows]
            w = w - hyper.learning_rate * (x[rows].T @ d / len(rows) + hyper.l2 * w)
            b -= hyper.learning_rate * float(np.mean(d))
        losses.append(total / len(y))
        if len(losses) > 1 and abs(losses[-2] - losses[-1]) < hyper.tol:
            break
    return w, b, losses


# --- helpers ---------------------------------------------------------------------------


async def _checked(what: str, source: int, coro: Awaitable[T]) -> T:
    """A value a partner sent, or AlgorithmError naming the message and the sender."""
    try:
        return await coro
    except (MalformedExchange, PheError, InvalidKey) as exc:
        raise AlgorithmError(f"{what} from rank {source}: {exc}") from exc


def _decode(what: str, source: int, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on a partner's bytes; AlgorithmError naming message and sender."""
    try:
        return function(*args)
    except (MalformedExchange, PheError, InvalidKey) as exc:
        raise AlgorithmError(f"{what} from rank {source}: {exc}") from exc


def _fixed_x(x: Array) -> list[list[int]]:
    """Each column of ``x`` as fixed-point Python ints (column-major lists)."""
    fixed = codec.to_fixed(x, "features")
    return [[int(v) for v in fixed[:, j]] for j in range(fixed.shape[1])]


def encrypted_dot(pk: PaillierPublicKey, cts: list[Any], columns: list[list[int]]) -> list[int]:
    """``[[sum_i x_ij d_i]]`` for each column ``j``: products of powers, with each
    ciphertext inverted once per batch for the negative ``x`` (an inversion costs far
    more than a short power)."""
    n2 = pk.n_square
    checked = [pk.check_ciphertext(c) for c in cts]
    inverses: list[Any] = []
    out: list[int] = []
    for column in columns:
        acc = gmpy2.mpz(1)
        for i, x in enumerate(column):
            if x > 0:
                acc = acc * gmpy2.powmod(checked[i], x, n2) % n2
            elif x < 0:
                if not inverses:
                    inverses = [gmpy2.invert(v, n2) for v in checked]
                acc = acc * gmpy2.powmod(inverses[i], -x, n2) % n2
        out.append(int(acc))
    return out


# --- mask seeds between feature holders -------------------------------------------------


async def exchange_seeds(link: LinkContext) -> dict[int, bytes]:
    """Feature holder ``i`` sends each holder ``j > i`` a fresh 32-byte seed; returns
    this holder's seed per partner holder (empty with one holder, and on rank 0)."""
    seeds: dict[int, bytes] = {}
    if link.rank == 0:
        return seeds
    holders = [r for r in range(1, link.world_size) if r != link.rank]
    for partner in holders:
        if partner > link.rank:
            seeds[partner] = secrets.token_bytes(codec.SEED_BYTES)
            await link.send(partner, codec.pack_seed(seeds[partner]))
    for partner in holders:
        if partner < link.rank:
            data = await link.recv(partner)
            seeds[partner] = _decode("mask seed", partner, codec.unpack_seed, data, "seed")
    return seeds


async def gather_scores(link: LinkContext, count: int) -> Array:
    """Rank 0: the sum of every holder's partial scores for ``count`` rows."""
    messages = []
    for peer in link.peers:
        data = await link.recv(peer)
        messages.append(
            _decode(
                "masked partial scores",
                peer,
                codec.unpack_masked_scores,
                data,
                count,
                "partial scores",
            )
        )
    return codec.unmask_sum(messages)


async def send_scores(
    link: LinkContext, scores: Array, seeds: dict[int, bytes], message: int
) -> None:
    """A feature holder: its masked partial scores to rank 0."""
    mask = codec.holder_mask(link.rank, seeds, message, len(scores))
    try:
        packed = codec.pack_masked_scores(scores, mask)
    except ValueError as exc:  # NaN or |u| >= 2^42: the weights diverged
        raise AlgorithmError(
            f"partial scores of rank {link.rank} left the fixed-point range ({exc}): "
            "training diverged, lower learning_rate"
        ) from None
    await link.send(0, packed)


# --- training ----------------------------------------------------------------------------


async def train_guest(
    link: LinkContext,
    x: Array,
    y: Array,
    hyper: Hyper,
    *,
    key_bits: int,
    allow_insecure: bool = False,
    seed: int | None = None,
    workers: int | None = None,
    feature_nums: tuple[int, ...] = (),
) -> TrainResult:
    """Rank 0 (label holder, key owner): train; returns its weights, intercept, losses."""
    pk, sk = await asyncio.to_thread(generate_keypair, key_bits, allow_insecure=allow_insecure)
    key_message = pack_paillier_public_key(WireKey(pk.n, pk.hs), PPCA)
    for peer in link.peers:
        await link.send(peer, key_message)
    rows = len(y)
    w = np.zeros(x.shape[1])
    b = 0.0
    result = TrainResult(w)
    orders = epoch_orders(rows, seed if seed is not None else secrets.randbits(63))
    with EncryptionPool(pk, workers) as enc, DecryptionPool(sk, workers) as dec:
        for epoch in range(hyper.epochs):
            order = next(orders)
            packed_order = codec.pack_order(order)
            for peer in link.peers:
                await link.send(peer, packed_order)
            total = 0.0
            for batch in batches(order, hyper.batch_size):
                s = await gather_scores(link, len(batch))
                p = sigmoid(x[batch] @ w + b + s)
                total += log_loss(p, y[batch]) * len(batch)
                d = p - y[batch]
                fixed_d = [int(v) for v in codec.to_fixed(d, "residuals")]
                cts = await asyncio.to_thread(enc.encrypt, fixed_d)
                packed = pack_paillier_ciphertexts(np.array(cts, dtype=object), PPCA)
                for peer in link.peers:
                    await link.send(peer, packed)
                w = w - hyper.learning_rate * (x[batch].T @ d / len(batch) + hyper.l2 * w)
                b -= hyper.learning_rate * float(np.mean(d))
                for peer in link.peers:
                    await _serve_gradient(link, peer, pk, dec, feature_nums)
            result.losses.append(total / rows)
            result.epochs_run = epoch + 1
            go_on = epoch + 1 < hyper.epochs and not (
                len(result.losses) > 1 and abs(result.losses[-2] - result.losses[-1]) < hyper.tol
            )
            for peer in link.peers:
                await link.send(peer, pack_scalar(go_on, ScalarType.BOOL))
            if not go_on:
                break
    result.weights, result.intercept = w, b
    return result


async def _serve_gradient(
    link: LinkContext,
    peer: int,
    pk: PaillierPublicKey,
    dec: DecryptionPool,
    feature_nums: tuple[int, ...],
) -> None:
    """Rank 0: decrypt one holder's masked encrypted gradient and send it back."""
    data = await link.recv(peer)
    key = WireKey(pk.n, pk.hs)
    cts = _decode("masked gradient", peer, unpack_paillier_ciphertexts, data, key, PPCA)
    expected = feature_nums[peer] if peer < len(feature_nums) else None
    if cts.ndim != 1 or (expected is not None and cts.shape[0] != expected):
        raise AlgorithmError(
            f"masked gradient from rank {peer}: expected {expected} values, got {cts.shape}"
        )
    plain = await _checked(
        "masked gradient", peer, asyncio.to_thread(dec.decrypt, [int(c) for c in cts])
    )
    await link.send(peer, codec.pack_bigints(plain))


async def train_host(
    link: LinkContext,
    x: Array,
    hyper: Hyper,
    *,
    key_bits: int,
    allow_insecure: bool = False,
    workers: int = 1,
) -> TrainResult:
    """A feature holder (rank > 0): train; returns its own weights only."""
    data = await link.recv(0)
    wire_key = _decode("public key", 0, unpack_paillier_public_key, data, PPCA)
    pk = _decode(
        "public key",
        0,
        lambda: PaillierPublicKey.from_parts(
            wire_key.n, wire_key.hs, allow_insecure=allow_insecure
        ),
    )
    if pk.bits != key_bits:
        raise AlgorithmError(f"key_bits: rank 0 sent a {pk.bits}-bit key, not {key_bits}")
    seeds = await exchange_seeds(link)
    rows, features = x.shape
    columns_all = codec.to_fixed(x, "features")
    w = np.zeros(features)
    max_abs = int(np.max(np.abs(columns_all))) if columns_all.size else 1
    message = 0
    result = TrainResult(w)
    pool = GradientPool(pk, workers)
    try:
        while True:
            data = await link.recv(0)
            order = _decode("row order", 0, codec.unpack_order, data, rows, "row order")
            for batch in batches(order, hyper.batch_size):
                await send_scores(link, x[batch] @ w, seeds, message)
                message += 1
                data = await link.recv(0)
                cts = _decode(
                    "encrypted residuals",
                    0,
                    unpack_paillier_ciphertexts,
                    data,
                    WireKey(pk.n, pk.hs),
                    PPCA,
                )
                if cts.shape != (len(batch),):
                    raise AlgorithmError(
                        f"encrypted residuals from rank 0: expected {len(batch)}, got {cts.shape}"
                    )
                columns = [[int(v) for v in columns_all[batch, j]] for j in range(features)]
                bits = codec.mask_bits(len(batch), max_abs)
                masks = [secrets.randbits(bits) for _ in range(features)]
                masked = await _checked(
                    "encrypted residuals",
                    0,
                    asyncio.to_thread(pool.masked_gradient, [int(c) for c in cts], columns, masks),
                )
                await link.send(0, pack_paillier_ciphertexts(np.array(masked, dtype=object), PPCA))
                data = await link.recv(0)
                plain = _decode(
                    "decrypted gradient",
                    0,
                    codec.unpack_bigints,
                    data,
                    features,
                    "decrypted gradient",
                )
                grad = np.array(
                    [
                        (v - r) / (codec.SCALE * codec.SCALE)
                        for v, r in zip(plain, masks, strict=True)
                    ]
                )
                w = w - hyper.learning_rate * (grad / len(batch) + hyper.l2 * w)
            result.epochs_run += 1
            data = await link.recv(0)
            go_on = _decode(
                "continue flag",
                0,
                _flag,
                data,
            )
            if not go_on:
                break
    finally:
        pool.close()
    result.weights = w
    return result


def _flag(data: bytes) -> bool:
    return bool(expect(unpack(data), Container.SCALAR, [ScalarType.BOOL], None, "flag"))


def _masked_gradient(
    pk: PaillierPublicKey, cts: list[Any], columns: list[list[int]], masks: list[int]
) -> list[int]:
    dots = encrypted_dot(pk, cts, columns)
    return [pk.rerandomize(pk.add_plain(c, r)) for c, r in zip(dots, masks, strict=True)]


_worker_key: PaillierPublicKey | None = None


def _init_gradient_worker(n: int, hs: int) -> None:
    global _worker_key  # noqa: PLW0603 - per-process state is the point
    _worker_key = PaillierPublicKey(n, hs)


def _gradient_chunk(cts: list[int], columns: list[list[int]], masks: list[int]) -> list[int]:
    assert _worker_key is not None, "gradient worker started without its key"
    return _masked_gradient(_worker_key, cts, columns, masks)


class GradientPool:
    """A feature holder's masked encrypted gradients, the columns spread over
    ``workers`` spawned processes that hold only the public key (one process: in the
    caller). Same result as :func:`_masked_gradient` up to the re-randomisation."""

    def __init__(self, pk: PaillierPublicKey, workers: int) -> None:
        self.pk = pk
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def masked_gradient(
        self, cts: list[int], columns: list[list[int]], masks: list[int]
    ) -> list[int]:
        if self.workers == 1 or len(columns) < 2:
            return _masked_gradient(self.pk, cts, columns, masks)
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_gradient_worker,
                initargs=(self.pk.n, self.pk.hs),
            )
        for c in cts:  # a malformed ciphertext is refused here, with the usual error
            self.pk.check_ciphertext(c)
        size = -(-len(columns) // self.workers)
        futures = [
            self._executor.submit(_gradient_chunk, cts, columns[i : i + size], masks[i : i + size])
            for i in range(0, len(columns), size)
        ]
        return [c for future in futures for c in future.result()]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


# --- prediction --------------------------------------------------------------------------


async def predict_guest(link: LinkContext, own_scores: Array) -> Array:
    """Rank 0: the probabilities ``sigmoid(own + sum of the holders' scores)``."""
    s = await gather_scores(link, len(own_scores))
    return sigmoid(own_scores + s)


async def predict_host(link: LinkContext, scores: Array) -> None:
    """A feature holder: its masked partial scores for every row, to rank 0."""
    seeds = await exchange_seeds(link)
    await send_scores(link, scores, seeds, 0)
