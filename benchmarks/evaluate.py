"""Cost of the evaluate component: metrics on ``--size`` scored rows, the four plots, and
the import costs a component container pays (numpy; matplotlib, the ``plots`` extra),
beside scikit-learn's ``roc_auc_score`` on the same rows as the anchor for AUC.

    .venv/bin/python benchmarks/evaluate.py --size 1000000

Ends with one JSON line holding every figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from isthmus.components.builtin.evaluate import metrics, plots


def import_seconds(statement: str, repeat: int = 3) -> float:
    """The best of ``repeat`` fresh interpreters' time to run ``statement``."""
    probe = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return min(
        float(subprocess.check_output([sys.executable, "-c", probe], text=True))
        for _ in range(repeat)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="scored rows")
    size = parser.parse_args().size
    rng = np.random.default_rng(7)
    y = rng.random(size) < 0.3
    score = 1 / (1 + np.exp(-(rng.normal(0, 1, size) + 1.2 * y - 0.6)))
    score = np.round(score, 4)  # realistic ties

    started = time.perf_counter()
    report = metrics.binary_report(y, score, 0.5)
    metrics_s = time.perf_counter() - started
    result: dict[str, object] = {
        "size": size,
        "metrics_s": round(metrics_s, 4),
        "auc": report["metrics"]["auc"],
        "report_bytes": len(json.dumps(report)),
    }
    try:
        from sklearn.metrics import roc_auc_score

        started = time.perf_counter()
        anchor = roc_auc_score(y, score)
        result["sklearn_auc_s"] = round(time.perf_counter() - started, 4)
        result["auc_diff"] = abs(anchor - report["metrics"]["auc"])
    except ImportError:
        result["sklearn_auc_s"] = None
    if plots.available():
        started = time.perf_counter()
        sizes = [len(draw(report["curves"], report["metrics"])) for draw in plots.PLOTS.values()]
        result["plots_s"] = round(time.perf_counter() - started, 4)
        result["plot_bytes"] = sizes
        result["import_matplotlib_s"] = round(
            import_seconds(
                "import numpy; from matplotlib.figure import Figure; "
                "from matplotlib.backends.backend_agg import FigureCanvasAgg"
            )
            - import_seconds("import numpy"),
            4,
        )
    result["import_numpy_s"] = round(import_seconds("import numpy"), 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
