"""``evaluate``: a model's quality where the labels are, as a JSON report and pictures.

Runs on the label holder alone (role guest): it reads one table of its own with a label
column and a score column (a prediction component's output, or any scored table) and
talks to nobody. Binary tasks get AUC, KS, accuracy / precision / recall / F1 at a
threshold and log-loss, with the ROC, KS, lift and score-distribution curves in the
report and, when matplotlib (the ``plots`` extra) is installed, as PNGs in whichever of
the plot outputs the job declares; regression tasks get MSE, RMSE, MAE, R² and explained
variance. Only aggregates leave it: no row's label or score is written or logged.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from isthmus.components.builtin.evaluate import plots
from isthmus.components.errors import ParameterError
from isthmus.components.runtime import Component, RunContext, component
from isthmus.components.spec import ComponentSpec, DataSlot, Param
from isthmus.components.storage import TableMeta
from isthmus.components.tables import csv_rows

if TYPE_CHECKING:  # numpy is imported when an evaluation runs, not when the image lists
    import numpy as np  # its components (the node reads every self-description)

SPEC = ComponentSpec(
    name="evaluate",
    provider="isthmus",
    version="0.1.0",
    title="Model evaluation",
    description=(
        "Binary (AUC, KS, accuracy, precision, recall, F1, log-loss) or regression "
        "(MSE, RMSE, MAE, R², explained variance) metrics of a scored table, on the label "
        "holder; a JSON report and ROC, KS, lift and score-distribution PNGs."
    ),
    roles=("guest",),
    params=(
        Param("label_col", default="y", description="the column of true labels"),
        Param("score_col", default="score", description="the column of scores / predictions"),
        Param("task_type", default="binary", choices=("binary", "regression")),
        Param(
            "threshold",
            type="float",
            default=0.5,
            description="binary: a row is predicted positive when score >= threshold",
        ),
        Param(
            "positive_label",
            default="1",
            description="binary: the label value of the positive class (1 matches 1.0)",
        ),
    ),
    inputs=(DataSlot("data", "dataset", ("csv",), "a table with a label and a score column"),),
    outputs=(
        DataSlot("report", "report", ("json",), "every metric, row counts, the curves"),
        DataSlot("roc_plot", "report", ("png",), "ROC curve (binary)"),
        DataSlot("ks_plot", "report", ("png",), "KS curve (binary)"),
        DataSlot("lift_plot", "report", ("png",), "cumulative lift by decile (binary)"),
        DataSlot("score_plot", "report", ("png",), "score distribution by class (binary)"),
    ),
    results=(("0", "success"),),
)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value


def read_columns(ctx: RunContext, label_col: str, score_col: str) -> tuple[list[str], list[str]]:
    """The two columns' text, row by row; ParameterError naming a column that is not
    in the table."""
    with csv_rows(ctx.storage, ctx.input("data")) as (header, rows):
        for param, column in (("label_col", label_col), ("score_col", score_col)):
            if column not in header:
                raise ParameterError(param, f"{column!r} is not a column of the input")
        li, si = header.index(label_col), header.index(score_col)
        labels, scores = [], []
        for row in rows:
            labels.append(row[li])
            scores.append(row[si])
    return labels, scores


def as_floats(param: str, column: str, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The column as numbers; ParameterError naming it and the first row (1-based,
    after the header) that is empty or not a number. NaN and infinities parse here and
    are refused by ``metrics.check_finite``."""
    import numpy as np

    values = np.empty(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        number = _number(text)
        if number is None:
            raise ParameterError(param, f"column {column!r}: row {i + 1} is not a number")
        values[i] = number
    return values


def positives(labels: list[str], positive: str, column: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which rows are of the positive class: text equal to ``positive``, or the same
    number (``1`` and ``1.0``). ParameterError when the labels have more than two values
    (a multi-class column evaluated as binary would silently lump classes together)."""
    import numpy as np

    distinct = set(labels)
    if len(distinct) > 2:
        raise ParameterError(
            "label_col", f"column {column!r} has {len(distinct)} distinct values, not 2"
        )
    wanted = _number(positive)

    def is_positive(text: str) -> bool:
        if text == positive:
            return True
        number = _number(text)
        return wanted is not None and number is not None and number == wanted

    chosen = {value: is_positive(value) for value in distinct}
    return np.fromiter((chosen[v] for v in labels), dtype=np.bool_, count=len(labels))


def evaluate(params: dict[str, Any], labels: list[str], scores: list[str]) -> dict[str, Any]:
    """The report (without the plot list) for these columns; ParameterError naming the
    column whose data cannot be evaluated."""
    from isthmus.components.builtin.evaluate import metrics

    label_col, score_col = str(params["label_col"]), str(params["score_col"])
    score = as_floats("score_col", score_col, scores)
    report: dict[str, Any] = {"task_type": params["task_type"], "rows": len(labels)}
    columns = {"label": ("label_col", label_col), "score": ("score_col", score_col)}
    try:
        if params["task_type"] == "regression":
            y = as_floats("label_col", label_col, labels)
            report.update(metrics.regression_report(y, score))
            return report
        positive = str(params["positive_label"])
        truth = positives(labels, positive, label_col)
        threshold = float(params["threshold"])
        report.update(
            positives=int(truth.sum()),
            negatives=int(truth.size - truth.sum()),
            threshold=threshold,
            positive_label=positive,
        )
        report.update(metrics.binary_report(truth, score, threshold))
        report["metrics"]["threshold"] = threshold
    except metrics.InvalidData as exc:
        param, column = columns[exc.field]
        raise ParameterError(param, f"column {column!r}: {exc.problem}") from None
    return report


@component
class Evaluate(Component):
    spec = SPEC

    async def run(self, ctx: RunContext) -> None:
        labels, scores = read_columns(
            ctx, str(ctx.params["label_col"]), str(ctx.params["score_col"])
        )
        report = evaluate(ctx.params, labels, scores)
        wanted = [name for name in plots.PLOTS if name in ctx.env.outputs]
        written: list[str] = []
        if report["task_type"] == "binary" and wanted:
            if plots.available():
                for name in wanted:
                    image = plots.PLOTS[name](report["curves"], report["metrics"])
                    _write(ctx, name, image, "png")
                    written.append(name)
            else:
                report["plots_skipped"] = "matplotlib is not installed (isthmus[plots])"
                ctx.log.warning(
                    "evaluate: no plots (%s): install isthmus[plots]", ", ".join(wanted)
                )
        report["plots"] = written
        _write(ctx, "report", json.dumps(report, indent=1, allow_nan=False).encode(), "json")
        summary = {k: v for k, v in report["metrics"].items() if isinstance(v, float)}
        ctx.report.update(rows=report["rows"], **summary)
        ctx.log.info(
            "evaluate: %d rows, %s",
            report["rows"],
            ", ".join(f"{k}={v:.6g}" for k, v in summary.items() if math.isfinite(v)),
        )


def _write(ctx: RunContext, slot: str, data: bytes, file_type: str) -> None:
    target = ctx.output(slot)
    with ctx.storage.writer(target) as out:
        out.write(data)
    ctx.storage.write_meta(
        target,
        TableMeta(name=target.name, namespace=target.namespace, count=1, file_type=file_type),
    )
