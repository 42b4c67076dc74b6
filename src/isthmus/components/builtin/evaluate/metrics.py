"""Evaluation metrics in numpy: binary classification (AUC, KS, threshold metrics,
log-loss) and regression, plus the curves the plots draw.

Definitions follow scikit-learn's where it has one (the tests compare with it), so a
number here means what a data scientist expects: AUC is the rank statistic with ties
counted as half (Mann-Whitney), KS is ``max(TPR - FPR)`` over the ROC's thresholds, a row
is predicted positive when ``score >= threshold``, a ratio with a zero denominator is 0.0
(scikit-learn's ``zero_division=0``), and R² / explained variance of a constant target
are 1.0 when the fit is exact else 0.0 (its ``force_finite``). Every function refuses
what would make a metric meaningless (NaN, one class only) with ``InvalidData`` naming
the field, instead of returning NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

#: Points kept of a curve in the report (and drawn): enough for a smooth picture, small
#: enough that the report stays a readable JSON document whatever the row count.
MAX_CURVE_POINTS = 201
#: Bins of the score histograms, per class.
HISTOGRAM_BINS = 20


class InvalidData(ValueError):
    """The data cannot be evaluated; ``field`` is the input it is about (``label`` or
    ``score``), so the component can name the column."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_finite(field: str, values: Floats) -> None:
    """InvalidData naming ``field`` and the first bad row (0-based) when a value is NaN
    or infinite: a NaN score sorts nowhere and would make AUC depend on the sort."""
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.argmax(bad))
        raise InvalidData(
            field, f"{int(bad.sum())} values are NaN or infinite (the first at row {first})"
        )


@dataclass(frozen=True)
class Roc:
    """The ROC curve at every distinct score (descending), from (0, 0) to (1, 1):
    ``thresholds[i]`` is the score at or above which rows count positive for point i
    (``inf`` for the first point, where none do)."""

    fpr: Floats
    tpr: Floats
    thresholds: Floats


def _check_binary(y: Bools, score: Floats) -> tuple[int, int]:
    if y.shape != score.shape or y.ndim != 1:
        raise ValueError("labels and scores must be one-dimensional and of one length")
    check_finite("score", score)
    positives = int(y.sum())
    negatives = int(y.size - positives)
    if positives == 0 or negatives == 0:
        only = "positive" if negatives == 0 else "negative"
        raise InvalidData(
            "label", f"every one of the {y.size} rows is {only}: AUC, KS need both classes"
        )
    return positives, negatives


def roc(y: Bools, score: Floats) -> Roc:
    """The ROC curve; tied scores make one point (they cannot be separated)."""
    positives, negatives = _check_binary(y, score)
    distinct, inverse = np.unique(score, return_inverse=True)
    pos_at = np.bincount(inverse, weights=y.astype(np.float64), minlength=distinct.size)
    all_at = np.bincount(inverse, minlength=distinct.size).astype(np.float64)
    tp = np.concatenate(([0.0], np.cumsum(pos_at[::-1])))
    fp = np.concatenate(([0.0], np.cumsum((all_at - pos_at)[::-1])))
    thresholds = np.concatenate(([math.inf], distinct[::-1]))
    return Roc(fpr=fp / negatives, tpr=tp / positives, thresholds=thresholds)


def auc(y: Bools, score: Floats) -> float:
    """Area under the ROC curve from ranks (ties get their average rank): the chance
    that a random positive scores above a random negative, a tie counting one half."""
    positives, negatives = _check_binary(y, score)
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts).astype(np.float64)
    average_rank = ends - (counts - 1) / 2.0  # 1-based ranks of each tie group, averaged
    rank_sum = float(average_rank[inverse][y].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def ks(curve: Roc) -> tuple[float, float]:
    """KS: the largest ``TPR - FPR`` and the score threshold where it is reached (the
    highest such threshold when several tie)."""
    gap = curve.tpr - curve.fpr
    best = int(np.argmax(gap))
    return float(gap[best]), float(curve.thresholds[best])


def at_threshold(y: Bools, score: Floats, threshold: float) -> dict[str, float | int]:
    """Confusion counts and accuracy, precision, recall, F1 when ``score >= threshold``
    is predicted positive; a ratio with a zero denominator is 0.0."""
    predicted = score >= threshold
    tp = int((predicted & y).sum())
    fp = int((predicted & ~y).sum())
    fn = int((~predicted & y).sum())
    tn = int(y.size - tp - fp - fn)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {
        "accuracy": (tp + tn) / y.size,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def log_loss(y: Bools, score: Floats) -> float | None:
    """Mean negative log-likelihood of the labels with the scores as probabilities,
    clipped to ``[eps, 1 - eps]`` (float64's eps, as scikit-learn) so a confident
    mistake costs a large finite amount; None when a score is outside [0, 1] (margins
    or log-odds are not probabilities, and clipping them would report a fiction)."""
    if score.size and (score.min() < 0.0 or score.max() > 1.0):
        return None
    eps = float(np.finfo(np.float64).eps)
    p = np.clip(score, eps, 1.0 - eps)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def lift(y: Bools, score: Floats, groups: int = 10) -> dict[str, list[float]]:
    """Cumulative lift and gain by group (deciles by default), rows ranked by score
    (highest first, ties in input order): after the k-th group, ``lift`` is the
    positive rate of the rows so far over the overall rate, ``gain`` the share of all
    positives found so far."""
    order = np.argsort(-score, kind="stable")
    ranked = y[order].astype(np.float64)
    bounds = [len(part) for part in np.array_split(ranked, groups) if len(part)]
    ends = np.cumsum(bounds)
    found = np.cumsum(ranked)[ends - 1]
    overall = ranked.sum() / ranked.size
    return {
        "depth": (ends / ranked.size).tolist(),
        "lift": (found / ends / overall).tolist(),
        "gain": (found / ranked.sum()).tolist(),
    }


def score_histogram(y: Bools, score: Floats, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Counts of each class's scores in ``bins`` equal bins over the scores' range."""
    low, high = float(score.min()), float(score.max())
    if low == high:
        high = low + 1.0
    edges = np.linspace(low, high, bins + 1)
    return {
        "edges": edges.tolist(),
        "positive": np.histogram(score[y], edges)[0].tolist(),
        "negative": np.histogram(score[~y], edges)[0].tolist(),
    }


def thin(n: int, keep: int = MAX_CURVE_POINTS, must: int | None = None) -> npt.NDArray[np.intp]:
    """At most ``keep`` indices of ``n`` points, evenly spread, the first, the last and
    ``must`` always among them; all of them when there are few."""
    if n <= keep:
        return np.arange(n)
    chosen = np.unique(np.linspace(0, n - 1, keep).round().astype(np.intp))
    if must is not None:
        chosen = np.unique(np.append(chosen, must))
    return chosen


def binary_report(y: Bools, score: Floats, threshold: float) -> dict[str, Any]:
    """Every binary metric and the curves behind the plots (thinned)."""
    curve = roc(y, score)
    ks_value, ks_threshold = ks(curve)
    best = int(np.argmax(curve.tpr - curve.fpr))
    keep = thin(curve.fpr.size, must=best)
    metrics: dict[str, Any] = {
        "auc": auc(y, score),
        "ks": ks_value,
        "ks_threshold": ks_threshold,
        **at_threshold(y, score, threshold),
        "log_loss": log_loss(y, score),
    }
    thresholds = [t if math.isfinite(t) else None for t in curve.thresholds[keep].tolist()]
    positives = float(y.sum())
    depth = (curve.tpr * positives + curve.fpr * (y.size - positives)) / y.size
    return {
        "metrics": metrics,
        "curves": {
            "roc": {
                "fpr": curve.fpr[keep].tolist(),
                "tpr": curve.tpr[keep].tolist(),
                "thresholds": thresholds,  # JSON has no inf: the first is null
                "depth": depth[keep].tolist(),  # share of rows at or above the threshold
            },
            "lift": lift(y, score),
            "score_distribution": score_histogram(y, score),
        },
    }


def regression_report(y: Floats, predicted: Floats) -> dict[str, Any]:
    """MSE, RMSE, MAE, R² and explained variance of ``predicted`` against ``y``."""
    check_finite("label", y)
    check_finite("score", predicted)
    if y.size == 0:
        raise InvalidData("label", "no rows to evaluate")
    residual = y - predicted
    mse = float(np.mean(residual**2))
    total = float(np.sum((y - y.mean()) ** 2))
    explained_num = float(np.var(residual)) * y.size

    def ratio(unexplained: float) -> float:
        if total == 0.0:
            return 1.0 if unexplained == 0.0 else 0.0
        return 1.0 - unexplained / total

    return {
        "metrics": {
            "mse": mse,
            "rmse": math.sqrt(mse),
            "mae": float(np.mean(np.abs(residual))),
            "r2": ratio(float(np.sum(residual**2))),
            "explained_variance": ratio(explained_num),
        }
    }
