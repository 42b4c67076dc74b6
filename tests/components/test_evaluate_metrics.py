"""The evaluate component's metrics: by hand on cases small enough to check on paper,
and against scikit-learn on random data (ties, extreme scores, constant targets)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from isthmus.components.builtin.evaluate import metrics

# y = [1, 0, 1, 0], scores [0.9, 0.8, 0.4, 0.1]: of the four positive-negative pairs
# only (0.4, 0.8) is misordered, so AUC = 3/4; TPR - FPR is 1/2 at score >= 0.9.
Y = np.array([True, False, True, False])
S = np.array([0.9, 0.8, 0.4, 0.1])


def test_binary_metrics_by_hand() -> None:
    assert metrics.auc(Y, S) == 0.75
    assert metrics.ks(metrics.roc(Y, S)) == (0.5, 0.9)
    assert metrics.at_threshold(Y, S, 0.5) == {
        "accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5,
        "tp": 1, "fp": 1, "fn": 1, "tn": 1,
    }  # fmt: skip
    expected = -(math.log(0.9) + math.log(0.2) + math.log(0.4) + math.log(0.9)) / 4
    assert metrics.log_loss(Y, S) == pytest.approx(expected, rel=1e-12)
    # nothing at or above 0.95: precision has no denominator and is 0, not NaN
    assert metrics.at_threshold(Y, S, 0.95)["precision"] == 0.0


def test_curves_by_hand_are_the_golden_report() -> None:
    """The curves the plots draw, as the report holds them: a change to how a curve is
    computed (or thinned) changes this document."""
    report = metrics.binary_report(Y, S, 0.5)
    assert report["curves"]["roc"] == {
        "fpr": [0.0, 0.0, 0.5, 0.5, 1.0],
        "tpr": [0.0, 0.5, 0.5, 1.0, 1.0],
        "thresholds": [None, 0.9, 0.8, 0.4, 0.1],
        "depth": [0.0, 0.25, 0.5, 0.75, 1.0],
    }
    # four rows in ten groups: four groups of one; positives found 1, 1, 2, 2 of 2
    assert report["curves"]["lift"] == {
        "depth": [0.25, 0.5, 0.75, 1.0],
        "lift": [2.0, 1.0, pytest.approx(4 / 3), 1.0],
        "gain": [0.5, 0.5, 1.0, 1.0],
    }
    histogram = report["curves"]["score_distribution"]
    assert len(histogram["edges"]) == metrics.HISTOGRAM_BINS + 1
    assert histogram["edges"][0] == 0.1 and histogram["edges"][-1] == 0.9
    assert sum(histogram["positive"]) == 2 and sum(histogram["negative"]) == 2
    assert histogram["positive"][-1] == 1 and histogram["negative"][0] == 1


def test_ties_count_half_and_one_class_or_nan_is_refused_by_name() -> None:
    assert metrics.auc(np.array([True, False]), np.array([0.5, 0.5])) == 0.5
    tied = np.array([True, False, True, False])
    assert metrics.auc(tied, np.array([0.7, 0.7, 0.9, 0.1])) == 0.875
    with pytest.raises(metrics.InvalidData, match="every one of the 3 rows is positive") as one:
        metrics.auc(np.array([True, True, True]), np.array([0.1, 0.2, 0.3]))
    assert one.value.field == "label"
    with pytest.raises(metrics.InvalidData, match=r"1 values are NaN .*row 1\)") as nan:
        metrics.binary_report(Y, np.array([0.9, math.nan, 0.4, 0.1]), 0.5)
    assert nan.value.field == "score"
    with pytest.raises(metrics.InvalidData) as inf:
        metrics.regression_report(np.array([1.0, math.inf]), np.array([1.0, 2.0]))
    assert inf.value.field == "label"


def test_log_loss_is_none_for_scores_that_are_not_probabilities() -> None:
    assert metrics.log_loss(Y, np.array([2.0, -1.0, 0.5, 0.1])) is None
    clipped = metrics.log_loss(np.array([True, False]), np.array([0.0, 1.0]))
    assert clipped is not None and math.isfinite(clipped) and clipped > 30


def test_a_long_curve_is_thinned_but_keeps_its_ends_and_the_ks_point() -> None:
    rng = np.random.default_rng(5)
    y = rng.random(5000) < 0.3
    score = np.clip(rng.normal(0.5, 0.2, 5000) + 0.15 * y, 0.0, 1.0)
    report = metrics.binary_report(y, score, 0.5)
    roc = report["curves"]["roc"]
    assert len(roc["fpr"]) <= metrics.MAX_CURVE_POINTS + 1
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
    gaps = [t - f for t, f in zip(roc["tpr"], roc["fpr"], strict=True)]
    assert max(gaps) == pytest.approx(report["metrics"]["ks"], abs=0)


SCORES = st.one_of(
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0]),  # many ties
    st.floats(0.0, 1.0, allow_nan=False),
)


@st.composite
def binary_data(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 120))
    y = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    score = np.array(draw(st.lists(SCORES, min_size=n, max_size=n)), dtype=np.float64)
    assume(y.any() and not y.all())
    return y, score


@settings(max_examples=150, deadline=None)
@given(binary_data(), st.sampled_from([0.0, 0.3, 0.5, 0.75, 1.0]))
def test_binary_metrics_agree_with_scikit_learn(
    data: tuple[np.ndarray, np.ndarray], threshold: float
) -> None:
    y, score = data
    assert metrics.auc(y, score) == pytest.approx(sk.roc_auc_score(y, score), abs=1e-12)
    fpr, tpr, thresholds = sk.roc_curve(y, score, drop_intermediate=False)
    curve = metrics.roc(y, score)
    np.testing.assert_allclose(curve.fpr, fpr, atol=1e-12)
    np.testing.assert_allclose(curve.tpr, tpr, atol=1e-12)
    np.testing.assert_array_equal(curve.thresholds[1:], thresholds[1:])
    assert metrics.ks(curve)[0] == pytest.approx(float(np.max(tpr - fpr)), abs=1e-12)
    predicted = score >= threshold
    got = metrics.at_threshold(y, score, threshold)
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y, predicted))
    for name, fn in (
        ("precision", sk.precision_score),
        ("recall", sk.recall_score),
        ("f1", sk.f1_score),
    ):
        assert got[name] == pytest.approx(fn(y, predicted, zero_division=0.0)), name
    loss = metrics.log_loss(y, score)
    assert loss == pytest.approx(sk.log_loss(y, score, labels=[False, True]), rel=1e-9)


@st.composite
def regression_data(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 80))
    values = st.one_of(st.sampled_from([0.0, 1.0, -2.5]), st.floats(-1e3, 1e3))
    y = np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64)
    exact = draw(st.booleans())
    predicted = (
        y.copy()
        if exact
        else np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64)
    )
    return y, predicted


@settings(max_examples=150, deadline=None)
@given(regression_data())
def test_regression_metrics_agree_with_scikit_learn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, predicted = data
    got = metrics.regression_report(y, predicted)["metrics"]
    assert got["mse"] == pytest.approx(sk.mean_squared_error(y, predicted), rel=1e-9, abs=1e-9)
    assert got["rmse"] == pytest.approx(math.sqrt(sk.mean_squared_error(y, predicted)), abs=1e-9)
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(y, predicted), abs=1e-9)
    if y.size >= 2:  # scikit-learn leaves R² of one row undefined (NaN, with a warning)
        assert got["r2"] == pytest.approx(sk.r2_score(y, predicted), abs=1e-7)
        ev = sk.explained_variance_score(y, predicted)
        assert got["explained_variance"] == pytest.approx(ev, abs=1e-7)


def test_regression_by_hand() -> None:
    got = metrics.regression_report(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    # residuals 0, 0, -2: MSE 4/3, MAE 2/3; SS_tot 2, so R² = 1 - 4/2 = -1;
    # Var(residual) = 8/9, Var(y) = 2/3: explained variance 1 - (8/9)/(2/3) = -1/3
    assert got["metrics"] == pytest.approx(
        {"mse": 4 / 3, "rmse": math.sqrt(4 / 3), "mae": 2 / 3, "r2": -1.0,
         "explained_variance": -1 / 3}
    )  # fmt: skip
    constant = metrics.regression_report(np.array([2.0, 2.0]), np.array([2.0, 2.0]))
    assert constant["metrics"]["r2"] == 1.0 and constant["metrics"]["explained_variance"] == 1.0
