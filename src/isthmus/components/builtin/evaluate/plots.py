"""The evaluation's pictures as PNG bytes, drawn by matplotlib's Agg canvas from the
curves in the report (so what is drawn is exactly what the report holds).

matplotlib is the ``plots`` extra, not a runtime dependency: it and its stack (Pillow,
fontTools, kiwisolver, contourpy) add about 95 MB to a component image and half a second
to start-up, which an image that never evaluates should not pay. ``available`` says
whether it can be imported; the component writes the report without plots (and says so)
when it cannot. No pyplot: a ``Figure`` on its own canvas keeps no global state and needs
no display.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

#: Size of every plot, in inches at ``DPI``: 640 x 480 pixels.
SIZE, DPI = (6.4, 4.8), 100


def available() -> bool:
    """Whether matplotlib (the ``plots`` extra) is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _png(title: str, draw: Callable[[Any], None]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    draw(axes)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})  # bytes depend on data only
    return out.getvalue()


def roc_png(curves: dict[str, Any], metrics: dict[str, Any]) -> bytes:
    roc = curves["roc"]

    def draw(axes: Any) -> None:
        axes.plot(roc["fpr"], roc["tpr"], label=f"ROC (AUC = {metrics['auc']:.4f})")
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
        axes.set_xlabel("false positive rate")
        axes.set_ylabel("true positive rate")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.02)
        axes.legend(loc="lower right")

    return _png("ROC curve", draw)


def ks_png(curves: dict[str, Any], metrics: dict[str, Any]) -> bytes:
    roc = curves["roc"]
    gaps = [t - f for t, f in zip(roc["tpr"], roc["fpr"], strict=True)]
    best = max(range(len(gaps)), key=gaps.__getitem__)

    def draw(axes: Any) -> None:
        axes.plot(roc["depth"], roc["tpr"], label="positives (TPR)")
        axes.plot(roc["depth"], roc["fpr"], label="negatives (FPR)")
        x = roc["depth"][best]
        axes.vlines(x, roc["fpr"][best], roc["tpr"][best], colors="red", linestyles=":")
        axes.annotate(
            f"KS = {metrics['ks']:.4f}\nat score >= {metrics['ks_threshold']:.4g}",
            (x, (roc["fpr"][best] + roc["tpr"][best]) / 2),
            xytext=(10, 0),
            textcoords="offset points",
        )
        axes.set_xlabel("share of rows, highest scores first")
        axes.set_ylabel("cumulative share of the class")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.02)
        axes.legend(loc="lower right")

    return _png("KS curve", draw)


def lift_png(curves: dict[str, Any], metrics: dict[str, Any]) -> bytes:
    lift = curves["lift"]

    def draw(axes: Any) -> None:
        groups = [f"{round(d * 100)}%" for d in lift["depth"]]
        axes.bar(groups, lift["lift"], color="tab:blue", label="cumulative lift")
        axes.axhline(1.0, linestyle="--", color="grey", label="no model")
        for i, value in enumerate(lift["lift"]):
            axes.annotate(f"{value:.2f}", (i, value), ha="center", va="bottom", fontsize=8)
        axes.set_xlabel("top share of rows by score (cumulative deciles)")
        axes.set_ylabel("positive rate / overall positive rate")
        axes.legend(loc="best")

    return _png("Cumulative lift", draw)


def score_png(curves: dict[str, Any], metrics: dict[str, Any]) -> bytes:
    histogram = curves["score_distribution"]
    edges = histogram["edges"]

    def draw(axes: Any) -> None:
        for label, key in (("negatives", "negative"), ("positives", "positive")):
            axes.stairs(histogram[key], edges, fill=True, alpha=0.5, label=label)
        threshold = metrics.get("threshold")
        if threshold is not None and edges[0] <= threshold <= edges[-1]:
            axes.axvline(threshold, color="red", linestyle=":", label=f"threshold {threshold}")
        axes.set_xlabel("score")
        axes.set_ylabel("rows")
        axes.legend(loc="best")

    return _png("Score distribution by class", draw)


#: Output slot -> drawing, in the order of the component's outputs.
PLOTS: dict[str, Callable[[dict[str, Any], dict[str, Any]], bytes]] = {
    "roc_plot": roc_png,
    "ks_plot": ks_png,
    "lift_plot": lift_png,
    "score_plot": score_png,
}
