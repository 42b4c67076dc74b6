"""The plaintext references for SS-LR and the documented fixed-point error bound.

The schedule is the PPCA SS-LR's (digest §5.3): w of k+1 (bias last) starting at 0; per
mini-batch ``pred = 0.5 + 0.125·(X·w)`` (the ``minimax_1`` sigmoid), ``err = pred - y``,
``grad = Xᵀ·err + l2·w'`` (w' = w with the bias zeroed), ``w -= grad·lr/batch_size``;
⌊n/batch⌋ batches per epoch in row order, the last partial batch discarded.

:func:`train_float64` runs it in float64. Two facts make the comparison honest:

* **The public step is quantised.** An engine multiplies by ``lr/batch_size`` encoded in
  fixed point, i.e. by ``η̃ = ⌊η·2^f⌋/2^f`` (fractional part dropped, as the PDF encodes),
  not by η. Since ``w_T = -η̃·Σ grad_t``, that alone scales the weights by ``η̃/η`` to first
  order, a relative error up to ``2^-f/η`` (1.5e-3 for lr 0.1, batch 64, f 18): larger
  than everything else. :func:`quantised_step` gives η̃; the reference takes it as its step.
* **scikit-learn cannot run a mini-batch schedule.** ``SGDClassifier``/``SGDRegressor``
  update per sample, ``partial_fit`` on a batch too, and the classifier's log loss uses the
  true sigmoid. With the ``minimax_1`` sigmoid, though, ``err·x`` is the gradient of the
  squared loss ``(0.125·z + 0.5 - y)²/0.25``, so SS-LR with ``batch_size = 1`` is exactly
  ``SGDRegressor(loss="squared_error", learning_rate="constant", eta0=lr/8,
  alpha=8·l2)`` on the target ``8y - 4`` (sklearn's L2 decay skips the intercept, as w'
  does). :func:`train_sklearn_batch1` does that; it checks this float64 reference, which
  then stands for the real batch sizes that sklearn cannot express.

The bound (:func:`fixed_point_bound`), with u = 2^-f and the reference run with η̃: every
truncated product is off by at most one ulp (probabilistic truncation: ≤ 1 ulp except with
probability about |value|/2^bits, the wrap of the SecureML rule, not bounded here), inputs and
labels are off by at most u when encoded. In one step, with B the batch, k+1 the weights,
X = max|x| (≥ 1, the bias column), W = max|w| over the run, E = max|err|:

* ``z = X·w``: ≤ u (truncation) + (k+1)·W·u (encoded x) — call it e_z;
* ``err``: ≤ 0.125·e_z + u (the truncation of 0.125·z) + u (encoded y) = e_err;
* ``grad``: ≤ u + B·(X·e_err + E·u) (+ l2·(k+1)·u·… folded into the same u term);
* ``w``: ≤ u + η̃·e_grad.

For ``η̃·B·X²/8 ≤ 2`` the step's linear part ``I - (η̃/8)·Xᵀ_B·X_B`` does not expand an
earlier error, so after T steps the error is at most ``T·e_step``. Measured errors are far
below it (the ulps have random signs): the tests assert the bound and print the ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Schedule:
    """The SS-LR hyper-parameters that decide the arithmetic."""

    epochs: int
    batch: int
    lr: float
    l2: float = 0.0

    def steps(self, rows: int) -> int:
        return self.epochs * (rows // self.batch)


def quantised_step(lr: float, batch: int, fxp_bits: int) -> float:
    """``lr/batch`` as an engine multiplies by it: encoded with the fraction dropped."""
    return math.floor(lr / batch * 2**fxp_bits) / 2**fxp_bits


def with_bias(x: Floats) -> Floats:
    return np.hstack([np.asarray(x, dtype=np.float64), np.ones((x.shape[0], 1))])


def train_float64(x: Floats, y: Floats, schedule: Schedule, step: float | None = None) -> Floats:
    """The schedule in float64; ``x`` without the bias column, ``step`` defaults to lr/B."""
    eta = schedule.lr / schedule.batch if step is None else step
    return _trajectory(with_bias(x), np.asarray(y, dtype=np.float64), schedule, eta)[-1]


def _trajectory(xb_all: Floats, y: Floats, schedule: Schedule, eta: float) -> list[Floats]:
    """w before the first step and after every step."""
    path = [np.zeros(xb_all.shape[1])]
    batches = xb_all.shape[0] // schedule.batch
    for _ in range(schedule.epochs):
        for b in range(batches):
            rows = slice(b * schedule.batch, (b + 1) * schedule.batch)
            xb, w = xb_all[rows], path[-1]
            grad = xb.T @ (0.5 + 0.125 * (xb @ w) - y[rows])
            decay = w.copy()
            decay[-1] = 0.0
            path.append(w - (grad + schedule.l2 * decay) * eta)
    return path


def train_sklearn_batch1(x: Floats, y: Floats, schedule: Schedule) -> Floats:
    """scikit-learn's SGD running the batch-1 schedule (see the module docstring)."""
    from sklearn.linear_model import SGDRegressor

    assert schedule.batch == 1, "sklearn's SGD updates per sample only"
    model = SGDRegressor(
        loss="squared_error",
        penalty="l2" if schedule.l2 else None,
        alpha=8 * schedule.l2,
        learning_rate="constant",
        eta0=schedule.lr / 8,
        fit_intercept=True,
        shuffle=False,
        max_iter=schedule.epochs,
        tol=None,
        average=False,
    )
    model.fit(np.asarray(x, dtype=np.float64), 8 * np.asarray(y, dtype=np.float64) - 4)
    return np.append(model.coef_, model.intercept_)


def fixed_point_bound(x: Floats, y: Floats, schedule: Schedule, fxp_bits: int) -> float:
    """The documented bound on max|w_fixed - train_float64(step=η̃)| (see the docstring)."""
    xb_all = with_bias(x)
    u = 2.0**-fxp_bits
    eta = quantised_step(schedule.lr, schedule.batch, fxp_bits)
    w_path = _trajectory(xb_all, np.asarray(y, dtype=np.float64), schedule, eta)
    k1, big_x = xb_all.shape[1], float(np.max(np.abs(xb_all)))
    big_w = float(max(np.max(np.abs(w)) for w in w_path))
    big_e = max(float(np.max(np.abs(0.5 + 0.125 * (xb_all @ w) - y))) for w in w_path)
    e_z = u + k1 * big_w * u
    e_err = 0.125 * e_z + 2 * u
    e_grad = u + schedule.batch * (big_x * e_err + big_e * u) + schedule.l2 * k1 * u
    e_step = u + eta * e_grad
    assert eta * schedule.batch * big_x**2 * k1 / 8 <= 2, "the step could expand errors"
    return schedule.steps(xb_all.shape[0]) * e_step
