"""SS-LR training on secret shares: the PPCA SS-LR algorithm (7-2023 §5, digest §5.3),
step for step, on any :class:`~isthmus.mpc.engine.Semi2k` engine.

The guarantee: nothing but shares leaves a party. Features are vertically split and the
rows already aligned; each party's features enter as the PDF's initial sharing (its own
share is the encoded value, every other party's share is 0, nothing sent), the label
likewise from the label owner, and the constant-1 bias column from the label owner too.
``w`` has ``k + 1`` entries (every rank's features in rank order, the bias last),
starts at 0, and every mini-batch runs, in fixed point::

    pred = sigmoid(X·w); err = pred - y; grad = Xᵀ·err; grad += w'·l2 (w': bias zeroed)
    w -= grad · (lr / batch_size)

over ⌊n / batch_size⌋ batches per epoch in row order (the last partial batch is
discarded, PPCA's only ``last_batch_policy``). Every party calls the engine in the same
order with the same shapes (lockstep), which is what keeps the engine's PRG counters and
triple streams in step. ``train`` is the whole algorithm, so an oracle (SPU) can run the
same schedule and compare.

Each batch X_b is the same matrix every epoch, so its Beaver mask is made once
(``Semi2k.fixed_left``, for every batch before the first epoch, so that a look-ahead
source can fetch the next batch's triples in order from the start) and reused by
X_b·w and X_bᵀ·err in every epoch: E = X_b - A is opened once per batch for the whole
training, each product then opens only F (SecureML §4.2; ``mpc/fixed.py`` says why that
is safe). Memory: one share of A and of E per batch. A triple source without the
extension falls back to ordinary triples inside the engine (same results, same order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from isthmus.components.builtin.ss_lr.plan import TrainPlan
from isthmus.mpc.engine import FixedLeft, Semi2k, Shared


def columns(engine: Semi2k, parts: Sequence[Shared]) -> Shared:
    """Shares side by side along axis 1 (a local operation on every party)."""
    rows = parts[0].shape[0]
    share = np.concatenate([p.share for p in parts], axis=1)
    return Shared(share, (rows, sum(p.shape[1] for p in parts)))


def row_slice(x: Shared, start: int, stop: int) -> Shared:
    """Rows ``start:stop`` of a shared matrix (local)."""
    return Shared(x.share[start:stop], (stop - start, *x.shape[1:]))


def without_bias(w: Shared) -> Shared:
    """w': ``w`` with its last (bias) entry zeroed on every share, so it is 0."""
    share = w.share.copy()
    share[-1] = 0
    return Shared(share, w.shape)


def share_inputs(
    engine: Semi2k, x_own: np.ndarray, y: np.ndarray | None, plan: TrainPlan
) -> tuple[Shared, Shared]:
    """X (n, k+1) and y (n, 1) as shares, by the PDF's initial sharing (nothing sent)."""
    rows = int(x_own.shape[0])
    if int(x_own.shape[1]) != plan.feature_nums[engine.rank]:
        raise ValueError(
            f"this party has {x_own.shape[1]} features, the plan says "
            f"{plan.feature_nums[engine.rank]}"
        )
    owner = plan.label_rank
    mine = engine.rank == owner
    parts = [
        engine.input(rank, x_own if rank == engine.rank else None, (rows, count))
        for rank, count in enumerate(plan.feature_nums)
    ]
    parts.append(engine.input(owner, np.ones((rows, 1)) if mine else None, (rows, 1)))
    label = None if not mine or y is None else np.asarray(y, dtype=np.float64).reshape(rows, 1)
    if mine and label is None:
        raise ValueError("the label owner has no label")
    return columns(engine, parts), engine.input(owner, label, (rows, 1))


async def train(engine: Semi2k, x_own: np.ndarray, y: np.ndarray | None, plan: TrainPlan) -> Shared:
    """This party's share of the trained ``w`` (shape (k+1, 1), bias last)."""
    x, label = share_inputs(engine, x_own, y, plan)
    w = Shared(engine.ring.zeros((plan.width, 1)), (plan.width, 1))
    step = plan.learning_rate / plan.batch_size
    masks: dict[int, FixedLeft] = {}
    for start, stop in plan.batches(x.shape[0]):
        masks[start] = await engine.fixed_left(row_slice(x, start, stop))
    for _ in range(plan.num_epoch):
        for start, stop in plan.batches(x.shape[0]):
            xb = masks[start]
            pred = await engine.sigmoid(await engine.matmul_fixed(xb, w), plan.sigmoid_mode)
            err = engine.sub(pred, row_slice(label, start, stop))
            grad = await engine.matmul_fixed(xb.T, err)
            if plan.l2_norm:
                grad = engine.add(
                    grad, await engine.mul_public_async(without_bias(w), plan.l2_norm)
                )
            w = engine.sub(w, await engine.mul_public_async(grad, step))
    return w


def plaintext_reference(x: np.ndarray, y: np.ndarray, plan: TrainPlan, fxp_bits: int) -> np.ndarray:
    """The same schedule in float64 with the public constants rounded to fixed point as
    the engine encodes them: what :func:`train` approximates (within the truncation
    error of a few units of 2^-fxp_bits per product)."""

    def fxp(c: float) -> float:
        return float(np.trunc(c * 2.0**fxp_bits) / 2.0**fxp_bits)

    xs = np.trunc(np.hstack([x, np.ones((x.shape[0], 1))]) * 2.0**fxp_bits) / 2.0**fxp_bits
    ys = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    w = np.zeros((plan.width, 1))
    step = fxp(plan.learning_rate / plan.batch_size)
    for _ in range(plan.num_epoch):
        for start, stop in plan.batches(xs.shape[0]):
            xb = xs[start:stop]
            pred = fxp(0.5) + fxp(0.125) * (xb @ w)
            grad = xb.T @ (pred - ys[start:stop])
            if plan.l2_norm:
                wp = w.copy()
                wp[-1] = 0
                grad = grad + wp * fxp(plan.l2_norm)
            w = w - grad * step
    return w
