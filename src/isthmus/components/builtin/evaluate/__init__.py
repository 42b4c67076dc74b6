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
from array import array
from dataclasses import dataclass, field
from typing import Any

from isthmus.components.builtin.evaluate import plots
from isthmus.components.errors import ParameterError
from isthmus.components.runtime import Component, RunContext, component
from isthmus.components.spec import ComponentSpec, DataSlot, Param
from isthmus.components.storage import TableMeta
from isthmus.components.tables import csv_rows

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


@dataclass
class Columns:
    """The two columns, read as they stream: ``score`` as numbers; ``label`` as numbers
    (regression) or as the index of the row's label in ``classes`` (binary), so a table
    of millions of rows is held as two arrays of machine numbers, not as text."""

    score: array[float] = field(default_factory=lambda: array("d"))
    label: array[float] = field(default_factory=lambda: array("d"))
    classes: list[str] = field(default_factory=list)


def read_columns(ctx: RunContext, binary: bool) -> Columns:
    """The label and score columns; ParameterError naming the parameter, the column
    and the first row (1-based, after the header) that is empty or not a number, a
    column that is not in the table, or a third label in a binary task (a multi-class
    column evaluated as binary would silently lump classes together). NaN and
    infinities parse here and are refused by ``metrics.check_finite``."""
    label_col, score_col = str(ctx.params["label_col"]), str(ctx.params["score_col"])
    columns = Columns()
    codes: dict[str, int] = {}
    with csv_rows(ctx.storage, ctx.input("data")) as (header, rows):
        for param, column in (("label_col", label_col), ("score_col", score_col)):
            if column not in header:
                raise ParameterError(param, f"{column!r} is not a column of the input")
        li, si = header.index(label_col), header.index(score_col)
        for line, row in enumerate(rows, start=1):
            score = _number(row[si])
            if score is None:
                raise ParameterError(
                    "score_col", f"column {score_col!r}: row {line} is not a number"
                )
            columns.score.append(score)
            text = row[li]
            if binary:
                code = codes.get(text)
                if code is None:
                    if len(codes) == 2:
                        raise ParameterError(
                            "label_col",
                            f"column {label_col!r} has more than 2 distinct values "
                            f"(a third at row {line})",
                        )
                    code = codes[text] = len(codes)
                    columns.classes.append(text)
                columns.label.append(code)
                continue
            value = _number(text)
            if value is None:
                raise ParameterError(
                    "label_col", f"column {label_col!r}: row {line} is not a number"
                )
            columns.label.append(value)
    return columns


def is_positive(text: str, positive: str) -> bool:
    """Whether a label is the positive class: the same text, or the same number (``1``
    and ``1.0``)."""
    if text == positive:
        return True
    wanted, number = _number(positive), _number(text)
    return wanted is not None and number is not None and number == wanted


def evaluate(params: dict[str, Any], columns: Columns) -> dict[str, Any]:
    """The report (without the plot list) for these columns; ParameterError naming the
    column whose data cannot be evaluated."""
    import numpy as np  # here, not at import: the node reads every self-description

    from isthmus.components.builtin.evaluate import metrics

    label_col, score_col = str(params["label_col"]), str(params["score_col"])
    score = np.frombuffer(columns.score, dtype=np.float64)
    label = np.frombuffer(columns.label, dtype=np.float64)
    report: dict[str, Any] = {"task_type": params["task_type"], "rows": int(score.size)}
    names = {"label": ("label_col", label_col), "score": ("score_col", score_col)}
    try:
        if params["task_type"] == "regression":
            report.update(metrics.regression_report(label, score))
            return report
        positive = str(params["positive_label"])
        chosen = [i for i, text in enumerate(columns.classes) if is_positive(text, positive)]
        truth = np.isin(label, chosen)
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
        param, column = names[exc.field]
        raise ParameterError(param, f"column {column!r}: {exc.problem}") from None
    return report


@component
class Evaluate(Component):
    spec = SPEC

    async def run(self, ctx: RunContext) -> None:
        columns = read_columns(ctx, binary=ctx.params["task_type"] == "binary")
        report = evaluate(ctx.params, columns)
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
